// The Socket.IO chat tutorial's server (https://socket.io/docs/v4/tutorial/),
// in its "broadcast to everyone but the sender" form: the baseline that
// bench/run.sh compares the local adapter with. Only the listen address is
// configurable (PORT, HOST); the chat logic is the tutorial's, unchanged.
'use strict';

const { createServer } = require('node:http');
const { Server } = require('socket.io');

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';

const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('socket.io chat benchmark server\n');
});
const io = new Server(server);

io.on('connection', (socket) => {
  socket.on('chat message', (msg) => {
    socket.broadcast.emit('chat message', msg);
  });
});

server.listen(port, host, () => {
  console.log(`socket.io ${require('socket.io/package.json').version} listening on http://${host}:${port} (pid ${process.pid})`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
