// CI: every published package changed since the last release is in a pending changeset.
//
// `changeset status` alone cannot say it here: it compares with the base branch, and CI's clone has only
// main, so there is no base (and it only fails when there is no changeset at all, not per package). The
// base is the last release instead: the last commit that wrote a published package's CHANGELOG.md (what
// `changeset version` does), or the first commit while nothing was released. A package changed since
// then in what it ships (its package.json `files` and package.json itself; tests and benches are not
// shipped) must be named by a changeset still pending in .changeset/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const git = (...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();

// The published packages: every package under packages/ and conformance/ that is not private.
const manifests = [...readdirSync(join(root, 'packages')).map((name) => `packages/${name}`), 'conformance']
  .filter((dir) => existsSync(join(root, dir, 'package.json')))
  .map((dir) => ({ dir, ...JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) }))
  .filter((manifest) => !manifest.private);
const PUBLISHED = manifests.map((m) => m.dir);

const lastRelease = git('log', '-1', '--format=%H', '--', ...PUBLISHED.map((dir) => `${dir}/CHANGELOG.md`));
const base = lastRelease || git('rev-list', '--max-parents=0', 'HEAD').split('\n').at(-1);
const changedFiles = git('diff', '--name-only', base, 'HEAD', '--', ...PUBLISHED).split('\n').filter(Boolean);

const shipped = (manifest, file) => {
  const inside = file.slice(manifest.dir.length + 1);
  return inside === 'package.json' || (manifest.files ?? []).some((entry) => inside === entry || inside.startsWith(`${entry}/`));
};
const changed = manifests.filter((m) => changedFiles.some((file) => file.startsWith(`${m.dir}/`) && shipped(m, file)));

// Changesets' own reading of .changeset/: which packages the pending changesets release.
const dir = mkdtempSync(join(tmpdir(), 'changeset-status-'));
let released;
try {
  execFileSync('pnpm', ['exec', 'changeset', 'status', `--output=${join(dir, 'plan.json')}`], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  released = new Set(JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')).releases.map((r) => r.name));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const missing = changed.filter((m) => !released.has(m.name));
const since = lastRelease ? `the last release (${base.slice(0, 9)})` : `the first commit (${base.slice(0, 9)}: nothing released yet)`;
console.log(`changesets: ${changed.length} published package(s) changed since ${since}: ${changed.map((m) => m.name).join(', ') || 'none'}`);
if (missing.length > 0) {
  console.error(`changesets: no pending changeset names ${missing.map((m) => m.name).join(', ')}: run \`pnpm changeset\` and commit the file it writes`);
  process.exit(1);
}
console.log('changesets: every changed package has a pending changeset');
