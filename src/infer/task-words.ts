// How messages name a model's task: "a classifier", "an embedder".

/** The task with its indefinite article. */
export function withArticle(task: string): string {
  return `${/^[aeiou]/.test(task) ? 'an' : 'a'} ${task}`;
}
