-- Record the starting stage's sandbox, compare-and-set: only if the job still has the sandbox id
-- this run saw at its entry (none, or a dead one it replaced). Two runs of `starting` at once
-- (a frozen worker waking up) then agree on one sandbox; the loser kills its own.
-- KEYS[1] job hash, KEYS[2] events (unused), KEYS[3] cancel flag.
-- ARGV: expected status, sandbox id seen at entry ('' for none), new sandbox id.
-- Returns the job's sandbox id after the call, or false when the job moved on or was cancelled.
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return false end
if redis.call('EXISTS', KEYS[3]) == 1 then return false end
local current = redis.call('HGET', KEYS[1], 'sandbox_id') or ''
if current ~= ARGV[2] then return current end
redis.call('HSET', KEYS[1], 'sandbox_id', ARGV[3])
return ARGV[3]
