// A fake wire for measuring a library's own client CPU: node-postgres's client answers the statements
// in `canned` (by SQL text) itself, on the next turn of the event loop (setImmediate), with a fixed
// result; pools, checkouts and everything above them run as usual, and every other statement (probes,
// warm-up) goes to the server. Without the socket and the protocol, the CPU per statement is the
// libraries' own, and steadier on a loaded machine. Copied beside the bench's client scripts, so it
// imports nothing.

/** Makes every `pg.Client` of the module `pg` answer `canned`'s statements itself. */
export const answerOnClient = (pg, canned) => {
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function(config, values, callback) {
    const result = canned[typeof config === "string" ? config : config?.text];
    if (result === undefined) return query.call(this, config, values, callback);
    const done = typeof values === "function" ? values : callback;
    if (done === undefined) return new Promise((resolve) => setImmediate(resolve, result));
    setImmediate(done, null, result);
  };
};

/** A one-row result as node-postgres gives it. */
export const oneRow = (row) => ({ command: "SELECT", rowCount: 1, rows: [row], fields: [] });
