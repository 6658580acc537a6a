-- A stage's whole exit in one round trip: its writes, the next stage's message put on the
-- queue, and the acknowledgement of the message that ran the stage (hand_off_lib.lua).
-- Nothing is half done: a crash before it redelivers the stage, a crash after it finds the
-- next message queued. Every command in a script costs the server about as much as a small
-- round trip, so this common path is six, and it carries no transition table or library.
-- ARGV (beyond hand_off_lib's): 9 next message id, 10 next message data ('' for none).
-- Returns {outcome, status, sandbox_id}; outcome is handed_off (acknowledged here), twin (a
-- second run of a stage already handed off: acknowledged, nothing written), or cancelled |
-- moved | missing (nothing written or acknowledged).
local reply, _, w, own, sandbox = begin()
if reply then return reply end
for _, v in ipairs(w.fields) do own[#own + 1] = v end
redis.call('HSET', KEYS[1], unpack(own))
to_queue_db()
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[6], ARGV[9], ARGV[10])
  redis.call('RPUSH', KEYS[5], ARGV[9])
end
ack()
return {'handed_off', ARGV[5], sandbox}
