-- The watchdog's look at a job whose deadline passed, decided in one step. The deadline covers
-- a stage while it runs (entry -> hand-off); a job whose message waits for a worker is never
-- stalled while that message exists in the queue's messages hash (KEYS[6], which holds a
-- message until it is acknowledged; a dead worker's come back through Dramatiq's maintenance).
--   - handed off (`handed_off` = <status>:<holder>): it waits for `next_message`. Still there:
--     'waiting'. Gone (lost): put that same message back on the queue, 'resent'; the finished
--     stage never runs again.
--   - running, but its holder's message is waiting for a worker again (a take-over's message
--     not yet entered, or a crashed worker's message back on the queue): 'waiting'.
--   - running past its deadline otherwise (a lost message, a call stuck in a worker): hand
--     the stage to a new message (the holder) and queue it, 'ok'; or 'exhausted' once the
--     re-drive budget is spent.
-- 'waiting', 'resent' and 'ok' look again one deadline later and renew the sandbox lease.
-- KEYS: the job's state keys (state_keys, the first five), 6 queue messages (id -> data),
-- 7 queue (list of ids) of the take-over's queue, 8-9 the same of the queue the next message
-- went to (a host's own: domain/hosts.py); KEYS 6-9 are Dramatiq's, in the broker's database.
-- ARGV: 1 now, 2 maxlen, 3 stage_deadline, 4 job_id, 5 status, 6 stage_started_at, 7 new
-- holder, 8 max re-drives, 9 lease seconds ('0': none), 10 the next message's id and 11 its
-- data as the caller read the job ('' when it had none), 12 the new holder's message, 13 the
-- broker's database, 14 Kiln's database.
-- Returns {outcome, attempt, iteration}; outcome: waiting | resent | ok | exhausted | moved.
NOW, MAXLEN = ARGV[1], ARGV[2]
local k = state_keys(1)
local job, msgs, queue, job_id = k.job, KEYS[6], KEYS[7], ARGV[4]

-- A look at or a write to the queue, in the broker's database and back (a script's SELECT is
-- its own: the caller's connection stays on Kiln's database).
local function on_queue(command, key, ...)
  redis.call('SELECT', ARGV[13])
  local reply = redis.call(command, key, ...)
  redis.call('SELECT', ARGV[14])
  return reply
end

local h = redis.call('HMGET', job, 'status', 'stage_started_at', 'attempt', 'iteration',
  'redrives', 'holder', 'handed_off', 'next_message', 'deliveries')
if h[1] ~= ARGV[5] or h[2] ~= ARGV[6] then
  -- It moved on (or vanished): drop it from the index unless it is still active elsewhere.
  if not h[1] or terminal(h[1]) then redis.call('ZREM', k.active, job_id) end
  return {'moved'}
end
local holder, redrives = h[6] or '', tonumber(h[5] or '0')

local function again(outcome)
  redis.call('ZADD', k.active, tonumber(NOW) + tonumber(ARGV[3]), job_id)
  local lease = tonumber(ARGV[9])
  if lease > 0 then redis.call('HSET', job, 'lease_until', tostring(tonumber(NOW) + lease)) end
  return {outcome, h[3], h[4]}
end

local function send(id, data, to_msgs, to_queue)
  on_queue('HSET', to_msgs or msgs, id, data)
  on_queue('RPUSH', to_queue or queue, id)
end

if h[7] and h[7] == h[1] .. ':' .. holder then
  local next_id = h[8] or ''
  if next_id == '' or on_queue('HEXISTS', KEYS[8], next_id) == 1 or next_id ~= ARGV[10] then
    return again('waiting')  -- (a different id than the caller read: look again next time)
  end
  if redrives >= tonumber(ARGV[8]) then return {'exhausted', h[3], h[4]} end
  send(next_id, ARGV[11], KEYS[8], KEYS[9])
  redis.call('HSET', job, 'redrives', redrives + 1)
  return again('resent')
end
if holder ~= '' and on_queue('HEXISTS', msgs, holder) == 1
    and (h[9] == '0' or on_queue('LPOS', queue, holder)) then
  return again('waiting')
end
if redrives >= tonumber(ARGV[8]) then return {'exhausted', h[3], h[4]} end
redis.call('HSET', job, 'holder', ARGV[7], 'redrives', redrives + 1, 'deliveries', 0)
send(ARGV[7], ARGV[12])
return again('ok')
