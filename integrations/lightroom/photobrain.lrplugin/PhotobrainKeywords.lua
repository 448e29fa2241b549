--[[ photobrain integrations install: AI keywords in Lightroom's catalog, as a keyword hierarchy under the
library's AI root (AI > animal > dog), each keyword made once (createKeyword returns the existing one).

Only photobrain's keywords are ever added or removed, one by one: no other keyword of a photo, no other field,
nothing unsaved is touched (the plug-in never reads metadata from files or writes them). Each photo remembers,
in the plug-in's hidden field, the AI keywords it was given; one of those the photo no longer has was removed
by the user, and photobrain is told so (it never gives that keyword back). ]]
local Task = require 'PhotobrainTask'

local Keywords = {}

Keywords.FIELD = 'aiKeywords'
Keywords.CHUNK = 200 -- photos per write: a long selection never holds Lightroom's catalog for long

local function key(words)
	return table.concat(words, '/')
end

--- A keyword's names from the top of the hierarchy down.
function Keywords.pathOf(keyword)
	local names = {}
	while keyword do
		table.insert(names, 1, keyword:getName())
		keyword = keyword:getParent()
	end
	return names
end

--- The photo's keywords by their path ("AI/animal/dog").
function Keywords.current(photo)
	local found = {}
	for _, keyword in ipairs(photo:getRawMetadata('keywords') or {}) do
		found[key(Keywords.pathOf(keyword))] = keyword
	end
	return found
end

--- The AI keywords the plug-in gave the photo last time (a set of paths).
function Keywords.given(photo)
	local given = {}
	for line in string.gmatch(photo:getPropertyForPlugin(_PLUGIN, Keywords.FIELD) or '', '[^\n]+') do
		given[line] = true
	end
	return given
end

local function split(path)
	local words = {}
	for word in string.gmatch(path, '[^/]+') do
		words[#words + 1] = word
	end
	return words
end

--- The AI keywords the plug-in gave the photo that the user has removed since (lists of names).
function Keywords.removedByUser(photo)
	local current, removed = Keywords.current(photo), {}
	for path in pairs(Keywords.given(photo)) do
		if not current[path] then
			removed[#removed + 1] = split(path)
		end
	end
	table.sort(removed, function(a, b) return key(a) < key(b) end)
	return removed
end

local function make(catalog, words, made)
	local parent
	for i = 1, #words do
		local path = key({ unpack(words, 1, i) })
		local keyword = made[path]
		if not keyword then
			keyword = catalog:createKeyword(words[i], {}, true, parent, true)
			made[path] = keyword
		end
		parent = keyword
	end
	return parent
end

--- Give each photo the AI keywords photobrain has for it now: ``wanted`` maps a photo to lists of names. Adds
--- the missing ones, takes out the ones the plug-in gave before that photobrain no longer gives, and remembers
--- what was given. Counts of keywords added and removed, or nil when Lightroom gave no write access.
function Keywords.apply(catalog, photos, wanted)
	local made, added, removed = {}, 0, 0
	for first = 1, #photos, Keywords.CHUNK do
		local plans = {}
		for i = first, math.min(#photos, first + Keywords.CHUNK - 1) do
			local photo = photos[i]
			local current, given = Keywords.current(photo), Keywords.given(photo)
			local plan = { photo = photo, add = {}, remove = {}, record = {} }
			local keep = {}
			for _, words in ipairs(wanted[photo]) do
				local path = key(words)
				if not keep[path] then
					keep[path] = true
					plan.record[#plan.record + 1] = path
					if not current[path] then
						plan.add[#plan.add + 1] = words
					end
				end
			end
			for path in pairs(given) do
				if not keep[path] and current[path] then
					plan.remove[#plan.remove + 1] = current[path]
				end
			end
			plans[#plans + 1] = plan
		end
		if not Task.write(catalog, 'photobrain: AI keywords', function()
			for _, plan in ipairs(plans) do
				for _, words in ipairs(plan.add) do
					plan.photo:addKeyword(make(catalog, words, made))
					added = added + 1
				end
				for _, keyword in ipairs(plan.remove) do
					plan.photo:removeKeyword(keyword)
					removed = removed + 1
				end
				plan.photo:setPropertyForPlugin(_PLUGIN, Keywords.FIELD, table.concat(plan.record, '\n'))
			end
		end) then
			return nil
		end
	end
	return added, removed
end

--- Take every keyword under the AI root out of each photo (``roots`` maps a photo to its library's root;
--- a photo without one loses the keywords the plug-in gave it). How many were removed, or nil.
function Keywords.remove(catalog, photos, roots)
	local plans, count = {}, 0
	for _, photo in ipairs(photos) do
		local given, doomed = Keywords.given(photo), {}
		for path, keyword in pairs(Keywords.current(photo)) do
			local root = roots[photo]
			if given[path] or (root and (path == root or string.sub(path, 1, #root + 1) == root .. '/')) then
				doomed[#doomed + 1] = keyword
			end
		end
		plans[#plans + 1] = { photo = photo, remove = doomed }
	end
	for first = 1, #plans, Keywords.CHUNK do
		if not Task.write(catalog, 'photobrain: remove AI keywords', function()
			for i = first, math.min(#plans, first + Keywords.CHUNK - 1) do
				for _, keyword in ipairs(plans[i].remove) do
					plans[i].photo:removeKeyword(keyword)
					count = count + 1
				end
				plans[i].photo:setPropertyForPlugin(_PLUGIN, Keywords.FIELD, nil)
			end
		end) then
			return nil
		end
	end
	return count
end

return Keywords
