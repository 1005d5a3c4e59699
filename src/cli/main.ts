// The `vhdx` command line: parses it, runs the command (for a conversion,
// the route its input, direction and output call for), and turns any error
// into one line on stderr and an exit code.
import { asVhdxError } from '../errors.js';
import { ready } from '../wasm/instance.js';
import { HELP, UsageError, parseCommandLine, type Command } from './args.js';
import { classifyInput, openInput } from './inputs.js';
import { runConversion } from './job.js';
import { EXIT, exitCodeOf } from './exit-codes.js';
import { check, info } from './report.js';
import { directionFor, runRoute } from './routes/table.js';

/** Runs the command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let debug = argv.includes('--debug');
  // A reader that goes away (`| head`) makes stdout emit EPIPE as an 'error'
  // event, which would crash the process with a stack trace. The write that
  // hit it rejects on its own (a conversion then ends with one IO line);
  // output of info/check that nobody reads is simply dropped.
  process.stdout.on('error', () => {});
  try {
    const line = parseCommandLine(argv);
    debug = line.debug;
    return await run(line.command);
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`vhdx: error[USAGE]: ${err.message}\n`);
      return EXIT.usage;
    }
    // anything not already a VhdxError escaped an I/O call that names no reason of its own
    const e = asVhdxError(err, 'read-failed', 'failed');
    process.stderr.write(`vhdx: error[${e.code}]: ${e.message.replace(/\s*\n\s*/g, ' ')}\n`);
    if (debug && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return exitCodeOf(e.code);
  }
}

async function run(command: Command): Promise<number> {
  if (command.name === 'help') {
    process.stdout.write(`${HELP}\n`);
    return command.exitCode;
  }
  await ready();
  if (command.name !== 'convert') return (command.name === 'info' ? info : check)(command.input, command.json);
  const { flags } = command;
  const input = classifyInput(command.input);
  await runConversion(command.output, flags, async (output, job) => {
    const opened = await openInput(input);
    await runRoute(opened, directionFor(opened.head, flags.to), output, job);
  });
  return EXIT.success;
}
