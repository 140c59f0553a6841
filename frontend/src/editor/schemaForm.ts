// What every form generated from an operator's JSON Schema shares: the validator, which knows
// FlowUI's formats, the widgets drawn for them, and array items' buttons with names.
import type { ErrorTransformer, RegistryWidgetsType, TemplatesType } from "@rjsf/utils";
import { customizeValidator } from "@rjsf/validator-ajv8";

import { ArrayItemButtons } from "./ArrayItemButtons";
import { DatasetWidget } from "./DatasetWidget";

/** The format of dataset ids (`Field(json_schema_extra={"format": "flowui-dataset"})`). */
export const DATASET_FORMAT = "flowui-dataset";

/** The dataset store's id rule (storage/paths.py): letters, digits, "_", "-" and ".", no "..". */
const DATASET_ID = /^(?!.*\.\.)[A-Za-z0-9_-][A-Za-z0-9_.-]{0,249}$/;

export interface SchemaFormContext {
  workspaceId: number;
}

export const schemaFormValidator = customizeValidator<unknown>({ customFormats: { [DATASET_FORMAT]: DATASET_ID } });

// rjsf draws a string with a format by the widget registered under that format's name.
export const schemaFormWidgets: RegistryWidgetsType = { [DATASET_FORMAT]: DatasetWidget };

export const schemaFormTemplates: Partial<TemplatesType> = { ArrayFieldItemButtonsTemplate: ArrayItemButtons };

/** ajv's "must match format ..." in words that say what a dataset id may hold. */
export const transformSchemaErrors: ErrorTransformer = (errors) =>
  errors.map((error) =>
    error.name === "format" && error.params?.format === DATASET_FORMAT
      ? {
          ...error,
          message: "must be a dataset id: letters, digits, '_', '.' and '-' (not starting with '.', no '..')",
        }
      : error,
  );
