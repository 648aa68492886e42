// Whether an address (a client's, or the one the server listens on) is this machine's loopback.

/** 127.0.0.0/8 (also IPv4-mapped), ::1 and "localhost". */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address === 'localhost' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}
