// Preloaded with `node --require` by bench/memory.js: prints the process's peak resident memory (getrusage's
// maxrss, in KiB) as it exits, whatever the command it runs.
process.on('exit', () => process.stderr.write(`\npeak-rss-kib ${process.resourceUsage().maxRSS}\n`));
