// A failure the user can act on: its message becomes BuildRecord.error, word for word. In a file of its
// own because every build stage throws it (extract, install, checks, load) and the build job imports
// those stages: declared in the job, it tied them all into one import circle.

export class BuildFailure extends Error {}
