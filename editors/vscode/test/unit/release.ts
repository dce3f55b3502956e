// A release folder as scripts/release.sh makes it (an archive and SHA256SUMS), for the
// download tests (unit and integration).
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SERVER_VERSION, releaseTarget, sha256 } from '../../src/binary';

/** Writes dir/quill-<version>-<target>.tar.gz (with `binary` as quill) and dir/SHA256SUMS;
 *  returns the archive's path. */
export function makeRelease(
  dir: string,
  binary: string | Buffer,
  target = releaseTarget() ?? 'x86_64-linux',
  version = SERVER_VERSION,
): string {
  const stem = `quill-${version}-${target}`;
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'quill-stage-'));
  fs.mkdirSync(path.join(stage, stem));
  fs.writeFileSync(path.join(stage, stem, 'quill'), binary, { mode: 0o755 });
  fs.writeFileSync(path.join(stage, stem, 'README.md'), '# quill\n');
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-C', stage, '-czf', path.join(dir, `${stem}.tar.gz`), stem]);
  fs.rmSync(stage, { recursive: true, force: true });
  const hash = sha256(fs.readFileSync(path.join(dir, `${stem}.tar.gz`)));
  fs.writeFileSync(path.join(dir, 'SHA256SUMS'), `${hash}  ${stem}.tar.gz\n`);
  return path.join(dir, `${stem}.tar.gz`);
}
