--[[ photobrain integrations install: Library > Plug-in Extras > Tag selected photos. photobrain tags the
selected photos' files with their library's settings (the service runs 'photobrain tag'), with Lightroom's
progress bar and its cancel; then each photo gets photobrain's AI keywords in Lightroom's catalog
(PhotobrainKeywords). AI keywords the user removed since the last run are reported to photobrain first, so
they stay removed. ]]
local LrDialogs = import 'LrDialogs'
local LrProgressScope = import 'LrProgressScope'
local LrTasks = import 'LrTasks'

local Keywords = require 'PhotobrainKeywords'
local Service = require 'PhotobrainService'
local Task = require 'PhotobrainTask'

local POLL_SECONDS = 0.5

local NOT_IN_A_LIBRARY = 'photobrain tags a folder the first time from a terminal, where you choose where its '
	.. "tags go: 'photobrain tag FOLDER --write none' keeps them in Lightroom's catalog only (files untouched). "
	.. 'Then choose Tag selected photos again.'

local function plural(count, word)
	return count .. ' ' .. word .. (count == 1 and '' or 's')
end

local function failures(failed)
	local lines = {}
	for i, failure in ipairs(failed) do
		lines[i] = failure.path .. ': ' .. tostring(failure.reason) .. (failure.hint and (' (' .. failure.hint .. ')') or '')
	end
	return lines
end

Task.run('photobrain: Tag selected photos', function(context)
	local catalog, photos = Task.selection('to tag')
	if not catalog then
		return
	end
	local service, problem = Service.connect()
	if not service then
		return Task.fail(problem)
	end
	local progress = LrProgressScope { title = 'photobrain: tagging ' .. plural(#photos, 'photo'),
		functionContext = context }
	progress:setCancelable(true)
	progress:setCaption('Starting')

	local paths, byPath, rejected = {}, {}, {}
	for _, photo in ipairs(photos) do
		local path = photo:getRawMetadata('path')
		if not byPath[path] then
			byPath[path] = {}
			paths[#paths + 1] = path
		end
		table.insert(byPath[path], photo) -- a virtual copy shares its master's file
		for _, words in ipairs(Keywords.removedByUser(photo)) do
			rejected[path] = rejected[path] or {}
			table.insert(rejected[path], words)
		end
	end

	local status, reason = service:post('/tag', { paths = paths, rejected = rejected }, 60)
	if not status then
		progress:done()
		return Task.fail('photobrain could not start tagging: ' .. reason)
	end
	local outside = status.outside or {}
	if status.job then
		local job, cancelled = status.job, false
		repeat
			LrTasks.sleep(POLL_SECONDS)
			if progress:isCanceled() and not cancelled then
				cancelled = true
				service:post('/tag/cancel', { job = job })
			end
			status, reason = service:post('/tag/status', { job = job })
			if not status then
				progress:done()
				return Task.fail('photobrain stopped answering while tagging: ' .. reason)
			end
			if tonumber(status.total) and status.total > 0 then
				progress:setPortionComplete(status.done, status.total)
			end
			progress:setCaption(cancelled and 'Stopping after the photo being tagged'
				or (status.label .. ' ' .. status.done .. ' of ' .. status.total))
		until status.state ~= 'waiting' and status.state ~= 'running'
	end

	local tagged, wanted = {}, {}
	for path, keywords in pairs(status.keywords or {}) do
		for _, photo in ipairs(byPath[path] or {}) do
			tagged[#tagged + 1] = photo
			wanted[photo] = keywords
		end
	end
	progress:setCaption('Adding the AI keywords to the catalog')
	local added, removed = Keywords.apply(catalog, tagged, wanted)
	progress:done()
	if added == nil then
		return
	end

	local said = {}
	if status.error then
		said[#said + 1] = 'Tagging stopped: ' .. status.error
	end
	if #outside > 0 then
		said[#said + 1] = plural(#outside, 'photo') .. (#outside == 1 and ' is' or ' are')
			.. ' in no photobrain library, so photobrain did not tag ' .. (#outside == 1 and 'it' or 'them') .. ':\n'
			.. Task.listed(outside) .. '\n' .. NOT_IN_A_LIBRARY
	end
	if status.failed and #status.failed > 0 then
		said[#said + 1] = 'photobrain could not tag ' .. plural(#status.failed, 'photo') .. ':\n'
			.. Task.listed(failures(status.failed))
	end
	local done = 'Added ' .. plural(added, 'AI keyword') .. ' to ' .. plural(#tagged, 'photo')
		.. (removed > 0 and (', took out ' .. plural(removed, 'keyword') .. ' photobrain no longer gives') or '')
		.. (status.state == 'cancelled' and ' (stopped: the photos tagged so far)' or '') .. '.'
	if #said == 0 then
		LrDialogs.showBezel(done)
	else
		LrDialogs.message(Task.TITLE, done .. '\n\n' .. table.concat(said, '\n\n'),
			status.error and 'critical' or 'warning')
	end
end)
