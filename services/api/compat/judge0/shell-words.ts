// Splits Judge0's `compiler_options` and `command_line_arguments` strings into argv words.
// Judge0 pastes them into a bash command line; Corral never uses a shell, so this implements the
// quoting a user relies on (single quotes, double quotes, backslash escapes, whitespace) and
// nothing else: `$x`, `;`, `|`, backticks and globs stay literal characters of a word.

export class ShellWordsError extends Error {}

/** Words of `text`; throws ShellWordsError naming the position of an unterminated quote. */
export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      if (inWord) { words.push(word); word = ''; inWord = false; }
      i++;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ShellWordsError(`unterminated single quote at character ${i + 1}`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new ShellWordsError(`unterminated double quote at character ${i + 1}`);
        const c = text[j];
        if (c === '"') break;
        if (c === '\\' && j + 1 < text.length && '"\\$`\n'.includes(text[j + 1])) {
          if (text[j + 1] !== '\n') word += text[j + 1];
          j += 2;
        } else {
          word += c;
          j++;
        }
      }
      inWord = true;
      i = j + 1;
    } else if (ch === '\\') {
      if (i + 1 < text.length) {
        if (text[i + 1] !== '\n') { word += text[i + 1]; inWord = true; }
        i += 2;
      } else {
        i++;
      }
    } else {
      word += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
