// A stand-in for the quill executable in the integration tests: runs the real one
// ($QUILL_REAL_BIN, same arguments), passes the client's messages through (recording each
// one's body as a line of $QUILL_INJECT_DIR/client.jsonl, to check what goes on the wire),
// forwards the server's whole frames, and between them writes the messages a test drops as
// JSON files into $QUILL_INJECT_DIR (in name order): server notifications the real server
// cannot be made to send at a chosen moment (quill/suggestionReady depends on model timing).
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const bin = process.env.QUILL_REAL_BIN;
const dir = process.env.QUILL_INJECT_DIR;
if (!bin || !dir) {
  process.stderr.write('inject: set QUILL_REAL_BIN and QUILL_INJECT_DIR\n');
  process.exit(2);
}
fs.mkdirSync(dir, { recursive: true });

/** Calls `frame` with each whole `Content-Length` frame (header and body) of a stream. */
function frames(stream: NodeJS.ReadableStream, frame: (whole: Buffer, headerEnd: number) => void) {
  let pending = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) {
        return;
      }
      const m = /Content-Length:\s*(\d+)/i.exec(pending.subarray(0, end).toString('latin1'));
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (pending.length < total) {
        return;
      }
      frame(pending.subarray(0, total), end + 4);
      pending = pending.subarray(total);
    }
  });
}

const child = spawn(bin, process.argv.slice(2), { stdio: ['pipe', 'pipe', 'inherit'] });
const sent = path.join(dir, 'client.jsonl');
frames(process.stdin, (whole, body) => {
  fs.appendFileSync(sent, whole.subarray(body).toString('utf8').replace(/\n/g, ' ') + '\n');
  child.stdin.write(whole);
});
process.stdin.on('end', () => child.stdin.end());
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
process.on('SIGTERM', () => child.kill('SIGTERM'));

frames(child.stdout, (whole) => process.stdout.write(whole));

setInterval(() => {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    const body = Buffer.from(fs.readFileSync(file, 'utf8'), 'utf8');
    fs.unlinkSync(file);
    process.stdout.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'latin1'), body]));
  }
}, 20).unref();
