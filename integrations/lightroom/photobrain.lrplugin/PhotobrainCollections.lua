--[[ photobrain integrations install: results as a collection "Similar to NAME" or "Search: QUERY" in the
collection set "photobrain", in rank order, shown as the active source. Created in one write and filled in the
next: Lightroom cannot add photos to a collection made in the same write. ]]
local LrDialogs = import 'LrDialogs'

local Task = require 'PhotobrainTask'

local Collections = {}

Collections.SET = 'photobrain'
Collections.MAX_NAME = 80

function Collections.name(prefix, text)
	text = string.gsub(text, '%s+', ' ')
	if #text > Collections.MAX_NAME then
		text = string.sub(text, 1, Collections.MAX_NAME - 3) .. '...'
	end
	return prefix .. text
end

--- The collection ``name`` in the photobrain set, holding exactly ``photos`` (in this order), made the active
--- source; nil when Lightroom could not give write access.
function Collections.show(catalog, name, photos)
	local collection
	if not Task.write(catalog, 'photobrain: make the collection ' .. name, function()
		local set = catalog:createCollectionSet(Collections.SET, nil, true)
		collection = catalog:createCollection(name, set, true)
	end) then
		return nil
	end
	if not Task.write(catalog, 'photobrain: fill the collection ' .. name, function()
		collection:removeAllPhotos()
		collection:addPhotos(photos)
	end) then
		return nil
	end
	catalog:setActiveSources({ collection })
	return collection
end

--- Say which photos photobrain found that this Lightroom catalog does not hold (so none is silently lost).
function Collections.reportMissing(missing)
	if #missing == 0 then
		return
	end
	LrDialogs.message(Task.TITLE, #missing .. ' of the photos photobrain found ' .. (#missing == 1 and 'is' or 'are')
		.. ' not in this Lightroom catalog:\n' .. Task.listed(missing)
		.. '\nAdd their folders with File > Import Photos and Video (Add) to see them here.', 'info')
end

return Collections
