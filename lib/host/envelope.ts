/**
 * A program as the transports that feed it on stdin send it (the local shell, SSH's `. /dev/stdin`):
 * one brace group. A shell parses a compound command whole before it runs any of it, so a program
 * cut short on its way — the sender killed, the connection lost — is a syntax error that runs
 * nothing, never its first half. Without it, dash and busybox ran a cut program up to the cut: a
 * here-document's data ended early, and the short file was committed (SPEC 2.2: never a torn
 * file; 2.5: all the pairs or none). SSM's command and a host session's frame arrive whole
 * (a frame is counted before it runs), and need none.
 */
export function wholeOrNothing(program: string): string {
  return `{\n${program}${program.endsWith('\n') ? '' : '\n'}}\n`;
}
