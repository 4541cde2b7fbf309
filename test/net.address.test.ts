// Socket addresses: parsing, validation, and the errors that name the bad value.
import { SocketAddress, checkUnixPath, parseSocketAddress } from '../lib/net/address';

describe('SocketAddress', () => {
  test.each([
    ['127.0.0.1:80', '127.0.0.1', 80, 'IPv4'],
    ['0.0.0.0:0', '0.0.0.0', 0, 'IPv4'],
    ['[::1]:8080', '::1', 8080, 'IPv6'],
    ['[::]:65535', '::', 65535, 'IPv6'],
    ['[fe80::1:2]:1', 'fe80::1:2', 1, 'IPv6'],
  ])('parses %s', (text, host, port, family) => {
    const a = parseSocketAddress(text);
    expect(a).toBeInstanceOf(SocketAddress);
    expect([a.host, a.port, a.family]).toEqual([host, port, family]);
  });

  test('objects, defaults and round trips', () => {
    expect(parseSocketAddress({ port: 5 }).toString()).toBe('127.0.0.1:5');
    expect(parseSocketAddress({ host: '::1', port: 5 }).toString()).toBe('[::1]:5');
    expect(parseSocketAddress({ host: '[::1]', port: 5 }).host).toBe('::1');
    const a = new SocketAddress('::1', 9);
    expect(parseSocketAddress(a)).toBe(a);
    expect(parseSocketAddress(a.toString())).toEqual(a);
    expect(a.isIPv6).toBe(true);
    expect(a.isIPv4).toBe(false);
    expect(JSON.parse(JSON.stringify(a))).toEqual({ host: '::1', port: 9, family: 'IPv6' });
    expect(Object.isFrozen(a)).toBe(true);
  });

  test.each([
    ['example.com:80', TypeError, /example\.com/],
    // A SocketAddress is numeric: names, localhost included, are resolved by connect / bind (test/dns.test.ts).
    ['localhost:7007', TypeError, /lookupHost/],
    ['127.0.0.1', TypeError, /host:port/],
    ['::1:80', TypeError, /brackets/],
    ['[::1]80', TypeError, /\[::1\]:8080/],
    ['[127.0.0.1]:80', TypeError, /IPv6/],
    ['127.0.0.1:http', TypeError, /decimal/],
    ['127.0.0.1:-1', TypeError, /decimal/],
    ['127.0.0.1:', TypeError, /decimal/],
    ['127.0.0.1:65536', RangeError, /65536/],
    ['256.0.0.1:80', TypeError, /256\.0\.0\.1/],
  ])('rejects %s', (text, type, message) => {
    expect(() => parseSocketAddress(text)).toThrow(type);
    expect(() => parseSocketAddress(text)).toThrow(message);
  });

  test.each([
    [{ port: 70000 }, RangeError, /70000/],
    [{ port: -1 }, RangeError, /-1/],
    [{ port: 1.5 }, RangeError, /1\.5/],
    [{ port: '80' }, TypeError, /"80"/],
    [{ port: NaN }, RangeError, /NaN/],
    [{}, TypeError, /port/],
    [{ host: 1, port: 1 }, TypeError, /host/],
    [{ host: 'my-host', port: 1 }, TypeError, /my-host/],
    [null, TypeError, /null/],
    [42, TypeError, /42/],
    [[1, 2], TypeError, /array/],
  ])('rejects %p', (value, type, message) => {
    expect(() => parseSocketAddress(value)).toThrow(type);
    expect(() => parseSocketAddress(value)).toThrow(message);
  });

  test('the message names where the value came from', () => {
    expect(() => parseSocketAddress({ port: 99999 }, 'TcpListener.bind(addr)')).toThrow(/TcpListener\.bind\(addr\)\.port must be in 0\.\.65535, got 99999/);
  });
});

describe('Unix socket paths', () => {
  test('accepts ordinary paths', () => {
    expect(checkUnixPath('/tmp/x.sock', 'path')).toBe('/tmp/x.sock');
  });
  test('rejects the wrong type, empty, NUL and too long', () => {
    expect(() => checkUnixPath(5, 'path')).toThrow(TypeError);
    expect(() => checkUnixPath('', 'path')).toThrow(TypeError);
    expect(() => checkUnixPath('/tmp/a\0b', 'path')).toThrow(/NUL/);
    const long = '/tmp/' + 'x'.repeat(200);
    expect(() => checkUnixPath(long, 'path')).toThrow(RangeError);
    expect(() => checkUnixPath(long, 'path')).toThrow(/xxxx/);
  });
});
