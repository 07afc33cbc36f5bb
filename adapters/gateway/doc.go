// Package gateway is Chorus's client edge: the HTTP API under /api/v1 and the WebSocket endpoint
// /ws. It decodes client requests and frames, calls the use cases of package commands with
// them (which build the domain commands, dispatch them and read the processor's reply) and
// encodes their answers, the same over both transports; it answers reads through the queries of
// package projections/queries, optionally after waiting for the position of a command the client
// has seen accepted; and it delivers the real-time pushes of the shared push stream to the
// sockets subscribed to each room.
//
// The gateway holds no state that matters beyond its own sockets: any number of gateways can
// serve the same clients, since commands, reads and pushes all go through shared services.
package gateway
