// Files the API sends behind the bearer token: fetched with the client as blobs, then saved
// or shown through blob URLs (a plain link or <img src> would lack the token).
import { useEffect, useState } from "react";

/** Saves a fetched file in the browser's downloads under `filename`. */
export function saveBlobAs(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  // Revoked later: some browsers read the URL after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A blob URL for `blob` (typed as `type` when given) for as long as the component shows it. */
export function useBlobUrl(blob: Blob | undefined, type?: string): string | undefined {
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    if (!blob) {
      setUrl(undefined);
      return;
    }
    const typed = type && blob.type !== type ? new Blob([blob], { type }) : blob;
    const next = URL.createObjectURL(typed);
    setUrl(next);
    return () => URL.revokeObjectURL(next);
  }, [blob, type]);
  return url;
}

/** The last segment of a path, for a download's file name. */
export function baseName(path: string): string {
  return path.split("/").filter(Boolean).pop() ?? path;
}

/** A file's size as people read it: "812 B", "3.4 KiB", "12.0 MiB". */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
