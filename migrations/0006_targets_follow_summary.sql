-- A procedure's target rows follow the first insert of its summary, inside
-- the same statement: a projection delivery is one upsert, and no summary
-- exists without its targets. Targets are fixed at registration, so an
-- update of the summary never touches them.
CREATE TRIGGER procedure_targets_follow_summary AFTER INSERT ON procedure_summary
BEGIN
  INSERT OR IGNORE INTO procedure_targets (asset_id, registered_at, procedure_id)
  SELECT value, NEW.registered_at, NEW.procedure_id FROM json_each(NEW.target_asset_ids);
END;
