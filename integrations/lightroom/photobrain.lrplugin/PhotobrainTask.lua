--[[ photobrain integrations install: how every menu item runs: in its own task (Lightroom's UI never waits on
photobrain), with a function context whose errors Lightroom shows as a dialog, and every catalog write in
withWriteAccessDo with a timeout (another plug-in or Lightroom itself may hold write access). ]]
local LrApplication = import 'LrApplication'
local LrDialogs = import 'LrDialogs'
local LrFunctionContext = import 'LrFunctionContext'
local LrTasks = import 'LrTasks'

local Task = {}

Task.TITLE = 'photobrain'
Task.WRITE_TIMEOUT = 60 -- seconds to wait for write access before giving up (nothing is changed then)

function Task.run(name, body)
	LrTasks.startAsyncTask(function()
		LrFunctionContext.callWithContext(name, function(context)
			LrDialogs.attachErrorDialogToFunctionContext(context)
			body(context)
		end)
	end, name)
end

--- Run ``func`` with write access; false (and the user told) when Lightroom could not give it in time.
function Task.write(catalog, action, func)
	local status = catalog:withWriteAccessDo(action, func, { timeout = Task.WRITE_TIMEOUT })
	if status == 'aborted' then
		LrDialogs.message(Task.TITLE, 'Lightroom was busy writing to its catalog for ' .. Task.WRITE_TIMEOUT
			.. ' seconds, so photobrain changed nothing (' .. action .. '). Try again in a moment.', 'warning')
		return false
	end
	return true
end

--- Lightroom's catalog and the selected photos, or nil (the user told to select some first).
function Task.selection(what)
	local catalog = LrApplication.activeCatalog()
	local photos = catalog:getTargetPhotos()
	if #photos == 0 then
		LrDialogs.message(Task.TITLE, 'Select the photos ' .. what .. ' first.', 'info')
		return nil
	end
	return catalog, photos
end

function Task.fail(message)
	LrDialogs.message(Task.TITLE, message, 'critical')
end

--- A list of paths for a message: the first ``limit``, and how many more.
function Task.listed(paths, limit)
	limit = limit or 10
	local lines = {}
	for i = 1, math.min(#paths, limit) do
		lines[i] = '  ' .. paths[i]
	end
	if #paths > limit then
		lines[#lines + 1] = '  ... and ' .. (#paths - limit) .. ' more'
	end
	return table.concat(lines, '\n')
end

return Task
