-- A stage actor's whole entry in one round trip: cancel check, duplicate check, delivery
-- counting, and the transition into the stage. KEYS: 1 the job's files, then its state keys
-- (state_keys(2), the first five). ARGV: now, maxlen, stage_deadline, job_id, stage, attempt,
-- iteration, max_deliveries, message_id, with_files ('1': also return the job's files; saves
-- the stage a round trip), lease ('0': none; else the seconds the job's sandbox lease runs from
-- now: `lease_until`, read by the reaper).
-- The message that entered a stage holds it: only a redelivery of that same message (a crash,
-- a retry) resumes it; any other message for the stage is a duplicate and is dropped. A
-- redelivery of a message whose run already handed off (the stage is done, its next message
-- queued) is a twin: dropped too, so the stage's work never runs again.
-- Returns {outcome, status, job JSON, files JSON}: the job's fields (and files) as one JSON
-- object each, which is far cheaper to parse than a long multi-bulk reply; outcome is one of
-- entered | resumed | duplicate | twin | cancelled | exhausted | missing.
-- The job is read once (HGETALL) and returned as it is after this script's own writes: every
-- command inside a script costs the server about as much as a small round trip.
NOW, MAXLEN = ARGV[1], ARGV[2]
STAGE_DEADLINE = tonumber(ARGV[3]); if STAGE_DEADLINE == 0 then STAGE_DEADLINE = nil end
local k = state_keys(2)
local job_id, stage = ARGV[4], ARGV[5]
local attempt, iteration, max_deliveries = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local message_id = ARGV[9]
local lease = tonumber(ARGV[11] or '0')

local raw = redis.call('HGETALL', k.job)
if #raw == 0 then return {'missing', ''} end
local h = {}
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
local cur = h['status']

local function entry(outcome)
  local files = '[]'
  if ARGV[10] == '1' then files = cjson.encode(redis.call('HGETALL', KEYS[1])) end
  return {outcome, cur, cjson.encode(h), files}
end
-- The cancel flag (k.cancel) is set in the same script as this field (store.cancel).
if h['cancelled'] == '1' then return {'cancelled', cur} end
if tonumber(h['attempt']) ~= attempt then return {'duplicate', cur} end
local job_iteration = tonumber(h['iteration'])
if cur == stage then
  if job_iteration ~= iteration or h['holder'] ~= message_id then return {'duplicate', cur} end
  if h['handed_off'] == stage .. ':' .. message_id then return {'twin', cur} end
  -- The same stage again: a redelivery after a crash (or a retry). Count it; the stage runs
  -- again from now, so its deadline and its sandbox's lease do too.
  local n = redis.call('HINCRBY', k.job, 'deliveries', 1)
  h['deliveries'] = tostring(n)
  h['redeliveries'] = tostring(redis.call('HINCRBY', k.job, 'redeliveries', 1))
  if n > max_deliveries then return {'exhausted', cur} end
  if STAGE_DEADLINE then
    redis.call('ZADD', k.active, tonumber(NOW) + STAGE_DEADLINE, job_id)
  end
  if lease > 0 then
    h['lease_until'] = tostring(tonumber(NOW) + lease)
    redis.call('HSET', k.job, 'lease_until', h['lease_until'])
  end
  return entry('resumed')
end
if not allowed(cur, stage) then return {'duplicate', cur} end
local wanted = job_iteration
if cur == LAST_STAGE and stage == FIX_LOOP_TO then wanted = job_iteration + 1 end
if iteration ~= wanted then return {'duplicate', cur} end
local quiet = {'deliveries', '1', 'holder', message_id}
if lease > 0 then quiet[5], quiet[6] = 'lease_until', tostring(tonumber(NOW) + lease) end
local _, set = apply(k, job_id, cur, stage, {'iteration', tostring(iteration)}, quiet)
for i = 1, #set, 2 do h[set[i]] = set[i + 1] end
return entry('entered')
