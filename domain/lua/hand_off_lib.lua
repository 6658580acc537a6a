-- The start both hand-off scripts share (hand_off.lua, hand_off_ready.lua): does this run still
-- hold the stage; the acknowledgement of its message; the stage's files.
-- KEYS: 1 job, 2 events, 3 files, 4 sandbox registry, 5 queue (list of message ids),
--       6 queue messages (id -> data), 7 this worker's unacked set.
-- ARGV: 1 now, 4 job_id, 5 stage, 6 holder (the id of the message that entered the stage),
--       7 writes JSON {fields = {k, v, ...}, files = {path = text} | absent, claim = {seen,
--       new, its host} | absent, ready = {...} | absent}, 8 message id to acknowledge ('' for none),
--       9 the next stage's message id ('' for none), 11 sandbox lease seconds ('0': none),
--       12 the broker's database.
-- KEYS 5-7 are Dramatiq's, in the broker's database (KILN_BROKER_DB); the others are in the
-- caller's. A script switches once, after its last write of Kiln's data (`to_queue_db`): its
-- SELECT is its own (Redis >= 2.8.12), the caller's connection stays on Kiln's database.
-- The hand-off marks the job `handed_off = <stage>:<holder>` with the id of the message it
-- queued (`next_message`): from here the job waits for a worker, which the watchdog never
-- takes for a stall while that message exists (redrive.lua). Progress renews the lease of the
-- job's sandbox (`lease_until`, read by the reaper).

local function to_queue_db()
  redis.call('SELECT', ARGV[12])
end

-- In the broker's database (after to_queue_db).
local function ack()
  if ARGV[8] ~= '' and redis.call('SREM', KEYS[7], ARGV[8]) > 0 then
    redis.call('HDEL', KEYS[6], ARGV[8])
  end
end

-- Returns a reply to end with when this run no longer holds the stage; otherwise nil, the
-- job's fields {status, holder, handed_off, sandbox_id, cancelled, starting_at, created_at},
-- the writes, the fields that mark the hand-off on the job, and the job's sandbox after it.
local function begin()
  local h = redis.call('HMGET', KEYS[1], 'status', 'holder', 'handed_off', 'sandbox_id',
                       'cancelled', 'starting_at', 'created_at')
  local cur, sandbox, holder = h[1], h[4] or '', ARGV[6]
  if not cur then return {'missing', '', ''} end
  if h[5] == '1' then return {'cancelled', cur, sandbox} end  -- set with the cancel flag
  if cur ~= ARGV[5] or (h[2] or '') ~= holder then return {'moved', cur, sandbox} end
  local mark = ARGV[5] .. ':' .. holder
  if h[3] == mark then to_queue_db(); ack(); return {'twin', cur, sandbox} end
  local w = cjson.decode(ARGV[7])
  -- On the record only: clients never see these.
  local own = {'handed_off', mark, 'next_message', ARGV[9]}
  local lease = tonumber(ARGV[11] or '0')
  if lease > 0 then own[5], own[6] = 'lease_until', tostring(tonumber(ARGV[1]) + lease) end
  if w.claim and sandbox == w.claim[1] then
    sandbox = w.claim[2]
    own[#own + 1] = 'sandbox_id'
    own[#own + 1] = sandbox
    own[#own + 1] = 'sandbox_host'  -- the host holding it ('' when any host reaches it)
    own[#own + 1] = w.claim[3] or ''
  end
  if w.files then
    redis.call('DEL', KEYS[3])
    for path, text in pairs(w.files) do redis.call('HSET', KEYS[3], path, text) end
  end
  return nil, h, w, own, sandbox
end
