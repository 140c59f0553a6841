// Markdown shown safely: headings, lists, code blocks, paragraphs and inline code, bold and
// italics become React elements; everything else is text (raw HTML is shown, never run).
import { Code, List, Text, Title } from "@mantine/core";
import type { ReactNode } from "react";

type Block =
  | { kind: "heading"; level: number; text: string }
  | { kind: "list"; items: string[] }
  | { kind: "code"; text: string }
  | { kind: "paragraph"; text: string };

export function markdownBlocks(source: string): Block[] {
  const blocks: Block[] = [];
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const code: string[] = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      blocks.push({ kind: "code", text: code.join("\n") });
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      blocks.push({ kind: "heading", level: heading[1].length, text: heading[2] });
      continue;
    }
    const item = /^\s*(?:[-*+]|\d+\.)\s+(.*)$/.exec(line);
    const last = blocks[blocks.length - 1];
    if (item) {
      if (last?.kind === "list") last.items.push(item[1]);
      else blocks.push({ kind: "list", items: [item[1]] });
      continue;
    }
    if (!line.trim()) {
      blocks.push({ kind: "paragraph", text: "" });
      continue;
    }
    if (last?.kind === "paragraph" && last.text) last.text += `\n${line}`;
    else blocks.push({ kind: "paragraph", text: line });
  }
  return blocks.filter((block) => block.kind !== "paragraph" || block.text);
}

/** `code`, **bold** and *italics* as elements; the rest stays text. */
function inline(text: string): ReactNode[] {
  return text.split(/(`[^`]+`|\*\*[^*]+\*\*|\*[^*]+\*)/g).map((part, index) => {
    if (part.startsWith("`") && part.endsWith("`") && part.length > 1)
      return <Code key={index}>{part.slice(1, -1)}</Code>;
    if (part.startsWith("**") && part.endsWith("**") && part.length > 3)
      return <strong key={index}>{part.slice(2, -2)}</strong>;
    if (part.startsWith("*") && part.endsWith("*") && part.length > 1) return <em key={index}>{part.slice(1, -1)}</em>;
    return part;
  });
}

export function MarkdownText({ source }: { source: string }) {
  return (
    <div data-testid="markdown-text">
      {markdownBlocks(source).map((block, index) => {
        switch (block.kind) {
          case "heading":
            return (
              <Title key={index} order={Math.min(block.level + 1, 6) as 2 | 3 | 4 | 5 | 6} mt="sm" mb={4}>
                {inline(block.text)}
              </Title>
            );
          case "list":
            return (
              <List key={index} size="sm" mb="xs">
                {block.items.map((text, item) => (
                  <List.Item key={item}>{inline(text)}</List.Item>
                ))}
              </List>
            );
          case "code":
            return (
              <Code key={index} block mb="xs">
                {block.text}
              </Code>
            );
          default:
            return (
              <Text key={index} size="sm" mb="xs" style={{ whiteSpace: "pre-wrap" }}>
                {inline(block.text)}
              </Text>
            );
        }
      })}
    </div>
  );
}
