// The runtimes a task runs in, named as in the workflow document, the API and the settings.
import type { Schemas } from "../api/client";

export type Runtime = Schemas["TaskPlacement"]["runtime"];

export const RUNTIMES: readonly Runtime[] = ["process", "docker", "kubernetes", "aws_batch"];

const WHERE: Record<Runtime, string> = {
  process: "a process on the platform's machine",
  docker: "a container of the operator's image",
  kubernetes: "a pod in the cluster",
  aws_batch: "an AWS Batch job",
};

/** The runtime's name with where it runs a task, for selects. */
export function runtimeLabel(runtime: Runtime): string {
  return `${runtime} (${WHERE[runtime]})`;
}
