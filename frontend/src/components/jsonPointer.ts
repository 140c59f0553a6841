// JSON pointers (RFC 6901) as the API's error details use them ("/body/document/tasks/0").

/** The unescaped segments of a pointer: "/operators/a~1b" → ["operators", "a/b"]. */
export function pointerSegments(pointer: string): string[] {
  if (!pointer.startsWith("/")) return pointer ? [pointer] : [];
  return pointer
    .slice(1)
    .split("/")
    .map((segment) => segment.replaceAll("~1", "/").replaceAll("~0", "~"));
}
