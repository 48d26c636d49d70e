// Where builds keep bytes in the ArtifactStore (core/ports/artifact-store.ts): an upload until its build ends
// (build-service-bull.ts), then the version's kept source, read by any replica (control/functions/version-sources.ts).
// Deleting the function deletes them (BullBuildService.purge).
export const artifactKeys = {
  upload: (buildId: string) => `uploads/${buildId}`,
  source: (fn: string, buildId: string) => `sources/${fn}/${buildId}`,
  /** The source's file name as uploaded (hello.py, code.tar.gz): the editor and the download need it. */
  sourceName: (fn: string, buildId: string) => `sources/${fn}/${buildId}/name`,
};
