// Files that look like secrets, in .gitignore's syntax (the `ignore` package reads it as git does). A
// pattern without a "/" matches at any depth, so `config/.env` is caught as `.env` is; a pattern ending
// in "/" is a directory with everything in it. `stratus deploy` leaves these out of its archive unless a
// `!` line in .stratusignore sends one on purpose (cli/pack.ts); the builder notes them in the build log
// when an upload holds them anyway (builder/secret-note.ts), since a git push or an API upload has no
// .stratusignore of the CLI's to go through.
//
// What is deliberately NOT here: `.env.example` / `.env.sample` / `.env.template` / `.env.dist` (by
// convention committed with placeholder values, and read by some apps at start), public keys (`*.pub`),
// certificates (`*.crt`, `*.cer`). `*.pem` is here although a .pem may hold only certificates (a CA
// bundle): it as often holds a private key, and the CLI names what it left out and how to send it.

import ignore, { type Ignore } from 'ignore';

export const SECRET_RULES: readonly string[] = [
  // dotenv files and direnv's, which export variables into the shell
  '.env',
  '.env.*',
  '!.env.example',
  '!.env.sample',
  '!.env.template',
  '!.env.dist',
  '.envrc',
  // package registries' and other tools' tokens
  '.npmrc',
  '.yarnrc.yml',
  '.pypirc',
  '.netrc',
  '_netrc',
  '.git-credentials',
  '.pgpass',
  '.htpasswd',
  // keys and key stores
  '*.pem',
  '*.key',
  '*.p12',
  '*.pfx',
  '*.jks',
  '*.keystore',
  '*.ppk',
  '*.kdbx',
  'id_rsa*',
  'id_dsa*',
  'id_ecdsa*',
  'id_ed25519*',
  '!id_*.pub',
  // cloud and container credentials
  '.aws/',
  '.ssh/',
  '.gnupg/',
  '.azure/',
  '.kube/',
  '**/.docker/config.json',
  '**/.config/gcloud/',
  'credentials.json',
  '*-credentials.json',
  'application_default_credentials.json',
  'service-account*.json',
  '*.tfstate',
  '*.tfstate.*',
];

/** A matcher of SECRET_RULES: `ignores(path)` with "/"-separated paths, a directory's with a trailing "/". */
export function secretMatcher(): Ignore {
  return ignore().add([...SECRET_RULES]);
}
