// The operators palette's pure parts: search, grouping and how an operator is drawn.
import type { Schemas } from "../api/client";
import type { OperatorRef } from "./types";

export type OperatorSummary = Schemas["OperatorSummary"];
export type OperatorDetail = Schemas["OperatorDetail"];

// Lower-case search text of each operator, computed once per operator object.
const haystacks = new WeakMap<OperatorSummary, string>();

function haystackOf(operator: OperatorSummary): string {
  let text = haystacks.get(operator);
  if (text === undefined) {
    const style = operatorStyle(operator);
    text = [operator.name, style.label, operator.description, operator.repository, ...operator.tags]
      .join("\n")
      .toLowerCase();
    haystacks.set(operator, text);
  }
  return text;
}

/**
 * The operators whose name, label, description, repository or tags contain every word of the
 * query (case-insensitive), in their original order. An empty query keeps them all.
 */
export function filterOperators<T extends OperatorSummary>(operators: readonly T[], query: string): T[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return operators.slice();
  return operators.filter((operator) => {
    const text = haystackOf(operator);
    return words.every((word) => text.includes(word));
  });
}

export interface OperatorGroup {
  repository: string;
  tags: { tag: string; operators: OperatorSummary[] }[];
}

export const UNTAGGED = "other";

/** Grouped by repository, then by each operator's first tag, both sorted by name. */
export function groupOperators(operators: readonly OperatorSummary[]): OperatorGroup[] {
  const repositories = new Map<string, Map<string, OperatorSummary[]>>();
  for (const operator of operators) {
    let tags = repositories.get(operator.repository);
    if (!tags) repositories.set(operator.repository, (tags = new Map()));
    const tag = operator.tags[0] ?? UNTAGGED;
    let list = tags.get(tag);
    if (!list) tags.set(tag, (list = []));
    list.push(operator);
  }
  const byName = (a: string, b: string) => a.localeCompare(b);
  return [...repositories.entries()]
    .sort(([a], [b]) => byName(a, b))
    .map(([repository, tags]) => ({
      repository,
      tags: [...tags.entries()]
        .sort(([a], [b]) => byName(a, b))
        .map(([tag, list]) => ({
          tag,
          operators: list.slice().sort((a, b) => byName(operatorStyle(a).label, operatorStyle(b).label)),
        })),
    }));
}

export interface OperatorLook {
  label: string;
  background: string;
  color: string;
  /** A short text standing in for the icon (its name without the icon set's prefixes). */
  icon: string;
  /** metadata's icon_class_name when it names a Font Awesome icon (the GUI bundles its free set). */
  iconClass: string | null;
}

const ICON_STYLE = /^(fa|fas|far|fab|fa-(solid|regular|brands|light|thin|duotone))$/;

/** The class names of a Font Awesome icon ("fa-solid fa-table", "fas fa-database"), or null. */
export function fontAwesomeClass(iconClass: string): string | null {
  const parts = iconClass.trim().split(/\s+/);
  const valid = parts.length >= 2 && parts.length <= 4 && parts.every((part) => /^fa[a-z0-9-]*$/.test(part));
  return valid && parts.some((part) => !ICON_STYLE.test(part)) ? parts.join(" ") : null;
}

const looks = new WeakMap<object, OperatorLook>();

/** How metadata.json's style draws an operator; sensible defaults for what it leaves out. */
export function operatorStyle(operator: { name: string; style: Record<string, unknown> }): OperatorLook {
  const cached = looks.get(operator);
  if (cached) return cached;
  const style = operator.style ?? {};
  const nodeStyle = (typeof style.node_style === "object" && style.node_style) || {};
  const text = (value: unknown, fallback: string) => (typeof value === "string" && value ? value : fallback);
  const iconClass = text(style.icon_class_name, "");
  const iconWord = iconClass
    .split(/\s+/)
    .filter((part) => part && !/^fa-(solid|regular|brands|light|thin|duotone)$/.test(part) && part !== "fa")
    .map((part) => part.replace(/^fa-/, ""))
    .pop();
  const label = text(style.node_label, operator.name);
  const look: OperatorLook = {
    label,
    background: text((nodeStyle as Record<string, unknown>).backgroundColor, "#f1f3f5"),
    color: text((nodeStyle as Record<string, unknown>).color, "#212529"),
    icon: initials(iconWord ?? label),
    iconClass: fontAwesomeClass(iconClass),
  };
  looks.set(operator, look);
  return look;
}

export function operatorRefOf(operator: OperatorSummary): OperatorRef {
  return { repository: operator.repository, name: operator.name, version: operator.version };
}

export function summaryKey(operator: OperatorSummary): string {
  return `${operator.repository}/${operator.name}@${operator.version}`;
}

function initials(text: string): string {
  const words = text.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const letters = words.length > 1 ? words.map((word) => word[0]).join("") : (words[0] ?? "?");
  return letters.slice(0, 2).toUpperCase();
}
