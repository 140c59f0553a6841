// A JSON value as a collapsible tree: objects and arrays fold, leaves show typed values.
import { UnstyledButton } from "@mantine/core";
import { useState } from "react";

interface Props {
  value: unknown;
  /** Levels open at first (deeper ones start folded). */
  openDepth?: number;
  "data-testid"?: string;
}

export function JsonTree({ value, openDepth = 2, ...rest }: Props) {
  return (
    <div
      style={{ fontFamily: "monospace", fontSize: 13, lineHeight: 1.5 }}
      data-testid={rest["data-testid"] ?? "json-tree"}
    >
      <JsonNode name={null} value={value} depth={0} openDepth={openDepth} />
    </div>
  );
}

function JsonNode({
  name,
  value,
  depth,
  openDepth,
}: {
  name: string | null;
  value: unknown;
  depth: number;
  openDepth: number;
}) {
  const [open, setOpen] = useState(depth < openDepth);
  const label = name === null ? null : <span style={{ color: "#5c5f66" }}>{name}: </span>;
  if (value === null || typeof value !== "object") {
    return (
      <div style={{ paddingLeft: depth ? 16 : 0 }}>
        {label}
        <JsonLeaf value={value} />
      </div>
    );
  }
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((item, index) => [String(index), item])
    : Object.entries(value as Record<string, unknown>);
  const [opening, closing] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  return (
    <div style={{ paddingLeft: depth ? 16 : 0 }}>
      <UnstyledButton
        onClick={() => setOpen(!open)}
        aria-expanded={open}
        aria-label={`${open ? "Fold" : "Unfold"} ${name ?? "value"}`}
        style={{ fontFamily: "inherit", fontSize: "inherit" }}
      >
        <span aria-hidden style={{ display: "inline-block", width: 12 }}>
          {open ? "▾" : "▸"}
        </span>
        {label}
        {opening}
        {!open && ` … ${entries.length} ${entries.length === 1 ? "item" : "items"} ${closing}`}
      </UnstyledButton>
      {open && (
        <>
          {entries.map(([key, item]) => (
            <JsonNode key={key} name={key} value={item} depth={depth + 1} openDepth={openDepth} />
          ))}
          <div style={{ paddingLeft: 12 }}>{closing}</div>
        </>
      )}
    </div>
  );
}

function JsonLeaf({ value }: { value: unknown }) {
  if (typeof value === "string")
    return <span style={{ color: "#2b8a3e", whiteSpace: "pre-wrap" }}>{JSON.stringify(value)}</span>;
  if (typeof value === "number") return <span style={{ color: "#1864ab" }}>{value}</span>;
  if (typeof value === "boolean") return <span style={{ color: "#862e9c" }}>{String(value)}</span>;
  return <span style={{ color: "#868e96" }}>null</span>;
}
