-- A waiting caller is offered to one agent at a time: the agent's own call
-- (`offer_sid`, so its "no answer" is recognised), and the agents who let
-- this call ring out (`declined`, a JSON array of user ids) are passed over.
-- A caller who asked to be called back has a `call` task (`callback_task_id`).
ALTER TABLE calls ADD COLUMN offer_sid TEXT;
ALTER TABLE calls ADD COLUMN declined TEXT NOT NULL DEFAULT '[]';
ALTER TABLE calls ADD COLUMN callback_task_id TEXT;
CREATE INDEX calls_offer ON calls(offer_sid);
-- When an agent answered (an offered call) and how long they talked.
ALTER TABLE calls ADD COLUMN answered_at BIGINT;
ALTER TABLE calls ADD COLUMN talk_secs BIGINT;
