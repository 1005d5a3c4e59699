// The `vhdx` command line: parses it, runs the command (for a conversion,
// the route its input, direction and output call for), and turns any error
// into one line on stderr and an exit code from the one table.
import { asVhdxError } from '../errors.js';
import { ready } from '../wasm/instance.js';
import { UsageError, parseCommandLine, type Command, type CommandLine } from './args.js';
import { EXIT, exitCodeOf } from './exit-codes.js';
import { helpText, versionText } from './help.js';
import { openInput, resolveInput, resolveOutput } from './inputs.js';
import { createChildFile } from '../node/child.js';
import { runConversion } from './job.js';
import { measure } from './measure.js';
import { describeError } from './messages.js';
import { rawInfo } from './raw-info.js';
import { check, info } from './report.js';
import { repair } from './repair.js';
import { runRoute } from './routes/table.js';
import { endOnClosedPipe, isClosedPipe, refuseTerminals } from './terminal.js';
import { isInPlaceCommand } from './inplace-options.js';
import { runInPlace } from './inplace.js';

/** Runs the command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let line: CommandLine | undefined;
  // A reader that goes away (`| head`) makes stdout emit EPIPE as an 'error'
  // event (and fail the write that met it): the command ends as Unix tools do.
  process.stdout.on('error', (err) => {
    if (isClosedPipe(err)) endOnClosedPipe();
  });
  try {
    line = parseCommandLine(argv);
    return await run(line.command);
  } catch (err) {
    if (isClosedPipe(err)) endOnClosedPipe();
    if (err instanceof UsageError) {
      process.stderr.write(`vhdx: error[USAGE]: ${err.message}\n`);
      return EXIT.usage;
    }
    // anything not already a VhdxError escaped an I/O call that names no reason of its own
    const e = asVhdxError(err, 'read-failed', 'failed');
    const message = describeError(e, line?.options ?? new Map());
    const status = exitCodeOf(e.code);
    // one label per exit status for usage: a mistake in what was asked is USAGE, whoever found it
    const label = status === EXIT.usage ? 'USAGE' : e.code;
    process.stderr.write(`vhdx: error[${label}]: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    if ((line?.debug ?? argv.includes('--debug')) && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return status;
  }
}

async function run(command: Command): Promise<number> {
  if (isInPlaceCommand(command)) return runInPlace(command);
  switch (command.name) {
    case 'help':
      (command.toStderr ? process.stderr : process.stdout).write(`${helpText(command.topic)}\n`);
      return command.exitCode;
    case 'version':
      process.stdout.write(`${versionText()}\n`);
      return EXIT.success;
    case 'info':
      refuseTerminals(command.input, undefined);
      await ready();
      return (await rawInfo(command.input, command.json, command.chain)) ?? info(command.input, command.json, command.chain);
    case 'check':
      refuseTerminals(command.input, undefined);
      await ready();
      if (command.repair) await repair(command.input, command.json, command.chain);
      return check(command.input, command.json, command.chain);
    case 'measure':
      refuseTerminals(command.input, undefined);
      await ready();
      return measure(command.input, command.json, command.flags);
    case 'convert':
      return convert(command);
    case 'create':
      // the child names its parent by a path relative to its own file
      if (command.output === '-') throw new UsageError('create writes a file: name the child (child.avhdx), not -');
      await ready();
      await createChildFile(resolveOutput(command.output), command.parent);
      return EXIT.success;
  }
}

async function convert(command: Extract<Command, { name: 'convert' }>): Promise<number> {
  const { flags } = command;
  refuseTerminals(command.input, command.output);
  await ready();
  const input = resolveInput(command.input);
  await runConversion(command.output, flags, async (output, job) => {
    const opened = await openInput(input);
    await runRoute(opened, output, job);
  });
  return EXIT.success;
}
