// The workflow document as the server stores it (schemas/workflow.schema.json), typed for the
// editor. The API types it as a free-form object; these types say what the editor relies on.

export type JsonSchema = Record<string, unknown>;

export interface LiteralInput {
  value: unknown;
}
export interface BindingInput {
  from: string;
  output: string;
}
export interface ParameterInput {
  param: string;
}
export type TaskInput = LiteralInput | BindingInput | ParameterInput;
export type InputMode = "value" | "upstream" | "param";

export interface OperatorRef {
  repository: string;
  name: string;
  version: string;
}

export interface ResourceAmounts {
  cpu: number;
  memory: number;
}
export interface ContainerResources {
  requests?: ResourceAmounts;
  limits?: ResourceAmounts;
  gpu?: number;
}

export type Runtime = "process" | "docker" | "kubernetes" | "aws_batch";

export interface TaskUi {
  x?: number;
  y?: number;
  [key: string]: unknown;
}

export interface WorkflowTask {
  id: string;
  operator: OperatorRef;
  inputs?: Record<string, TaskInput>;
  depends_on?: string[];
  runtime?: Runtime;
  retries?: number;
  retry_delay_seconds?: number;
  execution_timeout_seconds?: number | null;
  resources?: ContainerResources | null;
  ui?: TaskUi;
}

export type Schedule =
  | { type: "none" }
  | { type: "cron"; expression: string }
  | { type: "preset"; preset: Preset }
  | { type: "once"; at: string };

export const PRESETS = ["hourly", "daily", "weekly", "monthly", "yearly"] as const;
export type Preset = (typeof PRESETS)[number];

export interface WorkflowDoc {
  schema_version?: 1;
  name: string;
  description?: string;
  tags?: string[];
  schedule?: Schedule;
  parameters?: JsonSchema;
  start_date?: string | null;
  end_date?: string | null;
  catchup?: boolean;
  max_active_runs?: number;
  tasks: WorkflowTask[];
}

export function inputMode(input: TaskInput | undefined): InputMode {
  if (input && "from" in input) return "upstream";
  if (input && "param" in input) return "param";
  return "value";
}

export function isBinding(input: TaskInput | undefined): input is BindingInput {
  return !!input && "from" in input;
}

export function operatorKey(ref: OperatorRef): string {
  return `${ref.repository}/${ref.name}@${ref.version}`;
}
