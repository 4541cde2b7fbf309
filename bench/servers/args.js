'use strict';
// The one argument parser of the echo server scripts (bench/servers/*.js, test/fixtures):
// `--name value` or `--name=value`, else the default.
function arg(name, def, argv = process.argv.slice(2)) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1];
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return def;
}
module.exports = { arg };
