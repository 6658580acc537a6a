-- Shared by every job-state script. The transition table is generated from domain/status.py
-- and prepended as two strings: TRANSITIONS = '|from>to|...|' and TERMINALS = '|status|...|';
-- with them LAST_STAGE and FIX_LOOP_TO (the fix loop's edge back).
-- NOW, MAXLEN and STAGE_DEADLINE are set by each script before calling apply().

local NOW, MAXLEN, STAGE_DEADLINE

local function allowed(from, to)
  return string.find(TRANSITIONS, '|' .. from .. '>' .. to .. '|', 1, true) ~= nil
end

local function terminal(status)
  return string.find(TERMINALS, '|' .. status .. '|', 1, true) ~= nil
end

-- A job's state keys from KEYS[first] on, in Keys.job_state's order: job, events, cancel,
-- active, failed, and (given for a terminal transition) live, live_user, live_project,
-- build_seq, versions.
local function state_keys(first)
  return {job = KEYS[first], events = KEYS[first + 1], cancel = KEYS[first + 2],
          active = KEYS[first + 3], failed = KEYS[first + 4], live = KEYS[first + 5],
          live_user = KEYS[first + 6], live_project = KEYS[first + 7],
          build_seq = KEYS[first + 8], versions = KEYS[first + 9]}
end

-- Write status + timestamps + fields, append the event, keep the indexes right. `k`: the job's
-- state keys (a terminal transition needs all of them).
-- `fields` is a flat list {k1, v1, k2, v2, ...} written to the job and the event; `quiet`
-- (optional) the same, written to the job only (bookkeeping clients have no use for).
-- Returns the event id and the flat list of what it wrote to the job (so a caller holding
-- the job's fields can bring them up to date).
local function apply(k, job_id, cur, to, fields, quiet)
  local set = {'status', to, 'updated_at', NOW, to .. '_at', NOW, 'stage_started_at', NOW}
  local ev = {'type', 'status', 'status', to, 'from', cur, 'at', NOW}
  for i = 1, #fields, 2 do
    set[#set + 1] = fields[i]; set[#set + 1] = fields[i + 1]
    ev[#ev + 1] = fields[i]; ev[#ev + 1] = fields[i + 1]
  end
  for i = 1, #(quiet or {}), 2 do
    set[#set + 1] = quiet[i]; set[#set + 1] = quiet[i + 1]
  end
  if to == 'failed' then
    set[#set + 1] = 'failed_stage'; set[#set + 1] = cur
    ev[#ev + 1] = 'failed_stage'; ev[#ev + 1] = cur
  end
  if to == 'ready' then
    local n = redis.call('INCR', k.build_seq)
    local version = 'build_v0_' .. n
    -- The project's versions by number (domain/line.py reads them).
    redis.call('ZADD', k.versions, n, job_id)
    set[#set + 1] = 'build_version'; set[#set + 1] = version
    ev[#ev + 1] = 'build_version'; ev[#ev + 1] = version
  end
  redis.call('HSET', k.job, unpack(set))
  if terminal(to) then
    -- Every terminal path frees the job's capacity slots and leaves the watchdog's index.
    redis.call('ZREM', k.live, job_id)
    redis.call('SREM', k.live_user, job_id)
    redis.call('SREM', k.live_project, job_id)
    redis.call('ZREM', k.active, job_id)
    if to == 'failed' then redis.call('ZADD', k.failed, NOW, job_id) end
  elseif STAGE_DEADLINE then
    redis.call('ZADD', k.active, tonumber(NOW) + STAGE_DEADLINE, job_id)
  end
  return redis.call('XADD', k.events, 'MAXLEN', '~', MAXLEN, '*', unpack(ev)), set
end
