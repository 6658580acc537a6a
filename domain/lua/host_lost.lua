-- A job whose sandbox's worker host is gone (its heartbeat key expired) moves to the shared
-- queue, decided in one step. Its messages wait on the lost host's queue, which nobody else
-- consumes: a new message, with a new id, goes to the shared queue in their place, and the job
-- forgets the host (`sandbox_host` = ''), so the worker that takes it replaces the sandbox
-- (actors/leases.py) and routes the stages after it to its own queue.
--   - handed off (`handed_off` = <status>:<holder>): the next stage's message becomes the new
--     one (`next_message`), 'resent';
--   - otherwise (the stage ran, or waited, on the lost host): the stage is handed to the new
--     message (the holder, deliveries from 0), 'taken_over'.
-- The old messages stay where they are: should the host come back and run one, the stage
-- entry drops it (a stage's holder or a later stage), so nothing runs twice.
-- KEYS: 1 job, 2 the host's heartbeat, 3 shared queue messages (id -> data), 4 shared queue
-- (list of ids); KEYS 3-4 are Dramatiq's, in the broker's database.
-- ARGV: 1 the lost host, 2 status as the caller read it, 3 new message id, 4 its data when the
-- job is handed off (the next stage's message), 5 its data otherwise (this stage's), 6 the
-- shared queue's name, 7 the broker's database, 8 Kiln's database.
-- Returns {outcome}: resent | taken_over | alive (the host is back) | moved.
local h = redis.call('HMGET', KEYS[1], 'status', 'sandbox_host', 'holder', 'handed_off',
                     'cancelled')
if not h[1] or h[1] ~= ARGV[2] or h[5] == '1' or (h[2] or '') ~= ARGV[1] then
  return {'moved'}
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'alive'} end
local outcome, data
if h[4] and h[4] == h[1] .. ':' .. (h[3] or '') then
  outcome, data = 'resent', ARGV[4]
  redis.call('HSET', KEYS[1], 'sandbox_host', '', 'next_message', ARGV[3],
             'next_queue', ARGV[6])
else
  outcome, data = 'taken_over', ARGV[5]
  redis.call('HSET', KEYS[1], 'sandbox_host', '', 'holder', ARGV[3], 'deliveries', 0)
end
redis.call('SELECT', ARGV[7])  -- a script's SELECT is its own: the caller's stays
redis.call('HSET', KEYS[3], ARGV[3], data)
redis.call('RPUSH', KEYS[4], ARGV[3])
redis.call('SELECT', ARGV[8])
return {outcome}
