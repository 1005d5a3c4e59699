// The one table of exit codes: the help text, the README and every command
// take their numbers from here.
import type { VhdxErrorCode } from '../errors.js';

/** What each exit status of `vhdx` means. */
export const EXIT = {
  /** The command did what it was asked. */
  success: 0,
  /** The input is not a valid VHDX, or one this tool cannot handle. */
  invalidImage: 1,
  /** The command line is wrong (including a bad option value). */
  usage: 2,
  /** `check` read the whole file and found problems in it. */
  problemsFound: 3,
  /** Reading the input or writing the output failed. */
  io: 4,
} as const;

/** The table as the help text and the README print it, one status a line. */
export const EXIT_CODE_LINES: readonly string[] = [
  `${EXIT.success}  success`,
  `${EXIT.invalidImage}  the input is not a valid VHDX, or not one this tool supports`,
  `${EXIT.usage}  usage error: a wrong command, option or option value`,
  `${EXIT.problemsFound}  check found problems in the file`,
  `${EXIT.io}  I/O error: reading the input or writing the output failed (for check: nothing was checked)`,
];

/** The exit status for a library error of `code`. */
export function exitCodeOf(code: VhdxErrorCode): number {
  switch (code) {
    case 'INVALID_ARGUMENT':
      return EXIT.usage;
    case 'IO':
      return EXIT.io;
    default:
      return EXIT.invalidImage;
  }
}
