--[[ photobrain integrations install: Library > Plug-in Extras > Remove AI keywords. Takes every keyword under
the AI root (the photo's library's) out of the selected photos; their other keywords stay. Only Lightroom's
catalog changes: the files keep what photobrain wrote ('photobrain untag' removes that). The next Tag selected
photos gives the keywords again. ]]

local LrDialogs = import 'LrDialogs'

local Keywords = require 'PhotobrainKeywords'
local Service = require 'PhotobrainService'
local Task = require 'PhotobrainTask'

Task.run('photobrain: Remove AI keywords', function(context)
	local catalog, photos = Task.selection('to take the AI keywords from')
	if not catalog then
		return
	end
	local roots = {}
	local service = Service.connect() -- for each photo's AI root; without it, the keywords the plug-in gave go
	if service then
		local paths = {}
		for i, photo in ipairs(photos) do
			paths[i] = photo:getRawMetadata('path')
		end
		local answer = service:post('/keywords', { paths = paths })
		for i, photo in ipairs(photos) do
			roots[photo] = answer and answer.roots and answer.roots[paths[i]] or nil
		end
	end
	local count = Keywords.remove(catalog, photos, roots)
	if count then
		LrDialogs.showBezel('Removed ' .. count .. ' AI keyword' .. (count == 1 and '' or 's') .. ' from '
			.. #photos .. ' photo' .. (#photos == 1 and '' or 's') .. '.')
	end
end)
