// The error for a mistake in the command line: its own module so that the
// parser, the routes and the reports can all throw it without import cycles.

/** A mistake in the command line, reported as error[USAGE] with exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
