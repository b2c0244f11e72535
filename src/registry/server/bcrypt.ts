// bcrypt password checks for htpasswd files (htpasswd -B, Python's crypt, distribution's
// htpasswd auth), through bcryptjs. The three prefixes name the same algorithm for passwords
// checked here ($2y$ is PHP's name for $2b$), so $2y$ hashes are checked as $2b$.

import bcrypt from "bcryptjs";

const HASH = /^\$2([aby])\$(\d\d)\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/;

/** Whether `hash` is a bcrypt hash this module can check. */
export function isBcrypt(hash: string): boolean {
  const m = HASH.exec(hash);
  return m !== null && Number(m[2]) >= 4 && Number(m[2]) <= 31;
}

/** Whether password matches the bcrypt hash. False for a hash that is not bcrypt. */
export function bcryptVerify(password: string, hash: string): boolean {
  if (!isBcrypt(hash)) return false;
  return bcrypt.compareSync(password, hash.replace(/^\$2y\$/, "$2b$"));
}
