// Module ids from names, not hashes of absolute paths, so that a build is the same in any checkout.
module.exports = { optimization: { moduleIds: 'named' } };
