// Judge0's base64 rules. Judge0 decodes with Ruby's Base64.decode64 (lenient: characters outside
// the alphabet, including newlines, are skipped) and encodes with Base64.encode64 (RFC 2045: a
// newline after every 60 characters and at the end), so `"hello\n"` comes back as "aGVsbG8K\n".

/** Decodes like Ruby's Base64.decode64: skips non-alphabet characters, never throws. */
export function decodeJudge0Base64(text: string): Buffer {
  const clean = text.replace(/[^A-Za-z0-9+/]/g, '');
  return Buffer.from(clean, 'base64');
}

/** Encodes like Ruby's Base64.encode64: lines of 60 characters, each ending in "\n". */
export function encodeJudge0Base64(bytes: Buffer): string {
  const flat = bytes.toString('base64');
  if (flat.length === 0) return '';
  let out = '';
  for (let i = 0; i < flat.length; i += 60) out += flat.slice(i, i + 60) + '\n';
  return out;
}
