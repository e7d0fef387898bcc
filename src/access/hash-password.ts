// `kube-insight-logserver hash-password`: the hash an auth file stores for a password or token.
//   echo -n 's3cret' | kube-insight-logserver hash-password          → $argon2id$...
//   kube-insight-logserver hash-password --new-token                   → a random token and its hash
// The secret is read from standard input (never from arguments, which other users can see in ps).

const USAGE = `usage: kube-insight-logserver hash-password [--bcrypt] [--new-token]

Prints the argon2id (or bcrypt) hash of the password or token read from standard input, for the
password_hash or token_hash of a user in --auth-file. One trailing newline is dropped.
  --bcrypt      bcrypt instead of argon2id
  --new-token   make a random bearer token instead: prints "token: ..." and "token_hash: ..."`;

export async function runHashPassword(args: string[]): Promise<number> {
  let algorithm: "argon2id" | "bcrypt" = "argon2id";
  let newToken = false;
  for (const arg of args) {
    if (arg === "--bcrypt") algorithm = "bcrypt";
    else if (arg === "--new-token") newToken = true;
    else if (arg === "-h" || arg === "--help") {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`hash-password: unknown argument ${arg}\n${USAGE}`);
      return 2;
    }
  }
  if (newToken) {
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    console.log(`token: ${token}`);
    console.log(`token_hash: "${await Bun.password.hash(token, { algorithm })}"`);
    return 0;
  }
  let secret = await new Response(Bun.stdin.stream()).text();
  if (secret.endsWith("\n")) secret = secret.slice(0, secret.endsWith("\r\n") ? -2 : -1);
  if (secret === "") {
    console.error("hash-password: nothing on standard input (echo -n 'secret' | kube-insight-logserver hash-password)");
    return 2;
  }
  console.log(await Bun.password.hash(secret, { algorithm }));
  return 0;
}
