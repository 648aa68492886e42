// The Dockerfile read as build stages (dockerfile-ast): each stage's name, the image or stage it
// starts FROM and its instructions in order; and the stages a target needs. Shared by
// check-outside-docker.mjs and test/docker/dockerfile.test.ts.
import { DockerfileParser } from 'dockerfile-ast';

/** The Dockerfile as stages: name, parent stage (FROM <stage>) and instructions. */
export function readStages(text) {
  const stages = [];
  const globalArgs = {};
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    const keyword = instruction.getKeyword();
    const args = instruction.getArguments().map((a) => a.getValue());
    if (keyword === 'FROM') {
      stages.push({ name: instruction.getBuildStage() ?? String(stages.length), from: args[0], instructions: [] });
    } else if (stages.length === 0) {
      if (keyword === 'ARG') Object.assign(globalArgs, parseAssignments(args));
    } else {
      const flags = Object.fromEntries((instruction.getFlags?.() ?? []).map((f) => [f.getName(), f.getValue()]));
      stages.at(-1).instructions.push({ keyword, args, flags, content: instruction.getArgumentsContent() ?? '', line: instruction.getRange().start.line + 1 });
    }
  }
  return { stages, globalArgs };
}

export function parseAssignments(args) {
  return Object.fromEntries(args.map((a) => (a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined])));
}

/** The stages `target` needs, in Dockerfile order: its FROM chain and every COPY --from. */
export function stageChain(stages, target) {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const needed = new Set();
  const visit = (name) => {
    const stage = byName.get(name);
    if (!stage || needed.has(name)) return;
    needed.add(name);
    visit(stage.from);
    for (const i of stage.instructions) {
      const from = i.keyword === 'COPY' ? i.flags.from : undefined;
      if (from) visit(from);
    }
  };
  if (!byName.has(target)) throw new Error(`no stage "${target}" in the Dockerfile; stages: ${stages.map((s) => s.name).join(', ')}`);
  visit(target);
  return stages.filter((s) => needed.has(s.name));
}

