-- Nothing reads customer events by name across customers (timelines,
-- segments and journeys read one customer's events by time), and every
-- tracking call paid for keeping this index: about a sixth of an event's
-- insert.
DROP INDEX customer_events_name;
