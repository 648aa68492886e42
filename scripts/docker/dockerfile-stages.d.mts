// Types of dockerfile-stages.mjs (for the TypeScript tests that read the Dockerfile with it).
export interface DockerInstruction {
  keyword: string;
  args: string[];
  flags: Record<string, string | null>;
  content: string;
  line: number;
}
export interface DockerStage {
  name: string;
  from: string;
  instructions: DockerInstruction[];
}
export function readStages(text: string): { stages: DockerStage[]; globalArgs: Record<string, string | undefined> };
export function parseAssignments(args: string[]): Record<string, string | undefined>;
export function stageChain(stages: DockerStage[], target: string): DockerStage[];
