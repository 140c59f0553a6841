// The buttons of an array input's item (move up, move down, copy, remove), each named for a
// screen reader and for tests: "Remove item 2 of conditions", not one more "Remove".
import type { ArrayFieldItemButtonsTemplateProps } from "@rjsf/utils";
import { buttonId } from "@rjsf/utils";

/** "item 2 of conditions" for the item at index 1 of the field at path ["conditions"]. */
export function itemName(path: readonly (string | number)[], index: number): string {
  const field = path
    .slice(0, -1)
    .map((part) => (typeof part === "number" ? `item ${part + 1}` : part))
    .join(" › ");
  return `item ${index + 1}${field ? ` of ${field}` : ""}`;
}

export function ArrayItemButtons(props: ArrayFieldItemButtonsTemplateProps) {
  const { disabled, readonly, fieldPathId, index, registry, uiSchema } = props;
  const { CopyButton, MoveDownButton, MoveUpButton, RemoveButton } = registry.templates.ButtonTemplates;
  const item = itemName(fieldPathId.path, index);
  const off = disabled || readonly;
  const moves = props.hasMoveUp || props.hasMoveDown;
  return (
    <>
      {moves && (
        <MoveUpButton
          id={buttonId(fieldPathId, "moveUp")}
          aria-label={`Move ${item} up`}
          disabled={off || !props.hasMoveUp}
          onClick={props.onMoveUpItem}
          uiSchema={uiSchema}
          registry={registry}
        />
      )}
      {moves && (
        <MoveDownButton
          id={buttonId(fieldPathId, "moveDown")}
          aria-label={`Move ${item} down`}
          disabled={off || !props.hasMoveDown}
          onClick={props.onMoveDownItem}
          uiSchema={uiSchema}
          registry={registry}
        />
      )}
      {props.hasCopy && (
        <CopyButton
          id={buttonId(fieldPathId, "copy")}
          aria-label={`Copy ${item}`}
          disabled={off}
          onClick={props.onCopyItem}
          uiSchema={uiSchema}
          registry={registry}
        />
      )}
      {props.hasRemove && (
        <RemoveButton
          id={buttonId(fieldPathId, "remove")}
          aria-label={`Remove ${item}`}
          disabled={off}
          onClick={props.onRemoveItem}
          uiSchema={uiSchema}
          registry={registry}
        />
      )}
    </>
  );
}
