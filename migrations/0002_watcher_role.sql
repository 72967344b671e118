-- The watcher's agent gets its own role: ListProcedures and the procedure read
-- its tick uses, not every read a reader has.
UPDATE `principals` SET `roles` = '["watcher"]' WHERE `principal_id` = '01900000-0000-7000-8000-00000c0c0010';
