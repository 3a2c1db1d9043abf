// Flat artifact paths seen as folders.

import type { ArtifactInfo } from "../api";

export interface Entry {
  name: string;
  path: string;
  dir: boolean;
  size: number;
  files: number;
  info?: ArtifactInfo;
}

/** The direct children of folder `dir` ("" for the top) among flat artifact paths. */
export function listFolder(all: ArtifactInfo[], dir: string): Entry[] {
  const prefix = dir ? dir.replace(/\/?$/, "/") : "";
  const dirs = new Map<string, Entry>();
  const files: Entry[] = [];
  for (const a of all) {
    if (!a.path.startsWith(prefix)) continue;
    const rest = a.path.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash < 0) {
      files.push({ name: rest, path: a.path, dir: false, size: a.size, files: 1, info: a });
    } else {
      const name = rest.slice(0, slash);
      const d = dirs.get(name) ?? { name, path: prefix + name, dir: true, size: 0, files: 0 };
      d.size += a.size;
      d.files++;
      dirs.set(name, d);
    }
  }
  const byName = (a: Entry, b: Entry) => a.name.localeCompare(b.name);
  return [...[...dirs.values()].sort(byName), ...files.sort(byName)];
}

