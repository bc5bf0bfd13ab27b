"""The test set: functions and requests for measuring generalization (see dsl.py for the vocabulary).

Never tune on this set. It was written separately from source_dev.py: none of its functions appears
there, and its mix of domains differs (more law, health, education, logistics, energy, real estate).
"""

from dsl import A, B, Book, E, I, N, O, Obj, S, contains, may_omit, not_with, one_of, unordered

BOOK = Book("test")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# -- finance: investing, tax, currencies, loans --------------------------------------------------
d = BOOK.domain("finance")
rebalance = d.fn("portfolio.rebalance", "Compute the trades that bring a portfolio back to its target weights.",
                 portfolio_id=S(),
                 targets=A(O(ticker=S(), weight_percent=N(minimum=0, maximum=100)), "Target allocation", minItems=1),
                 min_trade_usd=N("Skip trades smaller than this", opt=True))
rebalance.ask("Rebalance portfolio P-77 to 60% VTI and 40% BND.",
              {"portfolio_id": "P-77", "targets": unordered([{"ticker": "VTI", "weight_percent": 60},
                                                             {"ticker": "BND", "weight_percent": 40}])})
rebalance.ask("P-12: target 50 AAPL / 30 MSFT / 20 CASH. Don't bother with trades under $100.",
              {"portfolio_id": "P-12", "targets": unordered([{"ticker": "AAPL", "weight_percent": 50},
                                                             {"ticker": "MSFT", "weight_percent": 30},
                                                             {"ticker": "CASH", "weight_percent": 20}]),
               "min_trade_usd": 100}, "terse")

tax = d.fn("tax.estimate_income_tax", "Estimate annual income tax for an individual or a couple.",
           gross_income=N("Yearly gross income in local currency"),
           filing_status=E(["single", "married_joint", "married_separate", "head_of_household"]),
           country=E(["US", "UK", "DE", "CA"]), deductions=N("Total deductions", opt=True))
tax.ask("Estimate my US income tax: I earn 84,000 a year and file as single.",
        {"gross_income": 84000, "filing_status": "single", "country": "US"})
tax.ask("Married filing jointly in the US, combined income 150k, deductions of 27,700. Tax estimate?",
        {"gross_income": 150000, "filing_status": "married_joint", "country": "US", "deductions": 27700}, "terse")
tax.ask("Roughly how much tax would a single person in Canada pay on ninety-five thousand?",
        {"gross_income": 95000, "filing_status": "single", "country": "CA"}, "words")

fx = d.fn("fx_rate", "Latest rate.", base=S("ISO 4217 code"), quote=S("ISO 4217 code"))
fx.ask("What's the EUR/USD rate?", {"base": "EUR", "quote": "USD"}, "terse")
fx.ask("What's the exchange rate from British pounds to Swiss francs today?", {"base": "GBP", "quote": "CHF"})
fx.ask("rate usd to mxn pls", {"base": "USD", "quote": "MXN"}, "terse")

convert = d.fn("convertCurrencyAmount", "Convert an amount of money from one currency to another at today's rate.",
               amount=N(), **{"from": S("ISO 4217 code such as USD"), "to": S("ISO 4217 code such as EUR")})
convert.ask("Convert 250 euros to Japanese yen.", {"amount": 250, "from": "EUR", "to": "JPY"})
convert.ask("I have 1,200 Canadian dollars. How much is that in US dollars?",
            {"amount": 1200, "from": "CAD", "to": "USD"}, "indirect")
convert.ask("Could you tell me what seventy-five Australian dollars come to in New Zealand dollars?",
            {"amount": 75, "from": "AUD", "to": "NZD"}, "words polite")

crypto = d.fn("crypto.get_price", "Spot price of a cryptocurrency.",
              symbol=S("Ticker like BTC"), vs_currency=S("Quote currency, usd by default", opt=True))
crypto.ask("price of ETH?", {"symbol": "ETH"}, "terse")
crypto.ask("What's bitcoin worth in euros at the moment?", {"symbol": "BTC", "vs_currency": "EUR"})
crypto.ask("Is Solana (SOL) up today? What's it trading at?", {"symbol": "SOL"}, "indirect")

amort = d.fn("loan.amortization_schedule", "Month-by-month amortization table for a fixed-rate loan.",
             principal=N(), rate_percent=N("Annual rate in percent"), months=I(minimum=1),
             extra_payment=N("Extra principal paid every month", opt=True))
amort.ask("Amortization schedule for 15,000 at 4.9% over 36 months.",
          {"principal": 15000, "rate_percent": 4.9, "months": 36})
amort.ask("Show me the schedule on a 200000 mortgage, 5.1 percent, 360 months, if I pay 300 extra each month.",
          {"principal": 200000, "rate_percent": 5.1, "months": 360, "extra_payment": 300})
amort.ask("A 9,500 car loan at 3.75% for two years: what does each month look like?",
          {"principal": 9500, "rate_percent": 3.75, "months": 24}, "indirect words units")

compound = d.fn("compound_interest", "Future value of a deposit with compound interest.",
                principal=N(), annual_rate=N("As a decimal: 0.05 means 5%"), years=N(),
                compounds_per_year=I("Default 12 (monthly)", opt=True))
compound.ask("If I invest 10,000 at 5% for 10 years, what will it grow to?",
             {"principal": 10000, "annual_rate": 0.05, "years": 10})
compound.ask("5000 at 3.5% compounded quarterly for 7 years",
             {"principal": 5000, "annual_rate": 0.035, "years": 7, "compounds_per_year": 4}, "terse")
not_with(fx, convert, crypto)

# -- science: astronomy, biology, physics, chemistry --------------------------------------------
d = BOOK.domain("science")
PLANETS = ["mercury", "venus", "earth", "mars", "jupiter", "saturn", "uranus", "neptune"]
planet = d.fn("astro.planet_info", "Physical data about a planet of the Solar System.",
              planet=E(PLANETS),
              properties=A(E(["mass", "radius", "gravity", "day_length", "moons", "distance_from_sun"]),
                           "Only these properties; all when left out", opt=True))
planet.ask("How many moons does Jupiter have?", {"planet": "jupiter", "properties": ["moons"]})
planet.ask("Give me the radius and surface gravity of Mars.",
           {"planet": "mars", "properties": unordered(["radius", "gravity"])})
planet.ask("Tell me about Neptune.", {"planet": "neptune"}, "terse")

iss = d.fn("astronomy.next_visible_pass", "When a satellite will next be visible from a location.",
           lat=N(), lon=N(), satellite=S("Default ISS", opt=True))
iss.ask("When can I next see the ISS from 51.5, -0.12?", {"lat": 51.5, "lon": -0.12, "satellite": may_omit("ISS")})
iss.ask("Next visible Hubble pass over lat 35.68, lon 139.69?",
        {"lat": 35.68, "lon": 139.69, "satellite": one_of("Hubble", "Hubble Space Telescope", "HST")})

dna = d.fn("bio.dna_to_protein", "Translate a DNA coding sequence into an amino-acid sequence.",
           sequence=S("Bases A, C, G, T"), frame=E([1, 2, 3], "Reading frame (default 1)", opt=True))
dna.ask("Translate ATGGCCATTGTAATGGGCCGCTGA into protein.", {"sequence": "ATGGCCATTGTAATGGGCCGCTGA"})
dna.ask("What protein does ATGAAACGCATTAGC code for in reading frame 2?",
        {"sequence": "ATGAAACGCATTAGC", "frame": 2})

punnett = d.fn("genetics.punnett_square", "Offspring genotype ratios for a single-gene cross.",
               parent1=S("Genotype like Aa"), parent2=S("Genotype like aa"))
punnett.ask("Cross Aa with aa: what are the offspring ratios?", {"parent1": "Aa", "parent2": "aa"})
punnett.ask("What happens when two heterozygous Bb parents have offspring?", {"parent1": "Bb", "parent2": "Bb"},
            "indirect")

ohm = d.fn("ohms_law", None, voltage=N(opt=True), current=N(opt=True), resistance=N(opt=True))
ohm.ask("What's the current through a 220 ohm resistor at 5 volts?", {"voltage": 5, "resistance": 220}, "units")
ohm.ask("A 12 V battery drives 0.5 A through a lamp. What's the lamp's resistance?",
        {"voltage": 12, "current": 0.5}, "units")
ohm.ask("voltage across 1k ohm with 3 mA flowing", {"current": 0.003, "resistance": 1000}, "terse units")

balance_eq = d.fn("chemistry.balanceEquation", "Balance a chemical equation.",
                  equation=S("Reactants -> products, e.g. H2 + O2 -> H2O"))
balance_eq.ask("Balance: Fe + O2 -> Fe2O3", {"equation": one_of("Fe + O2 -> Fe2O3", "Fe+O2->Fe2O3")}, "terse")
balance_eq.ask("Can you balance C3H8 + O2 -> CO2 + H2O for me?",
               {"equation": one_of("C3H8 + O2 -> CO2 + H2O", "C3H8+O2->CO2+H2O")}, "polite")

freefall = d.fn("physics.freefall", "Fall time and impact speed of an object dropped from rest, without drag.",
                height_m=N(exclusiveMinimum=0), gravity=N("m/s^2, default 9.81", opt=True))
freefall.ask("If I drop a stone from 80 metres, how long until it hits the ground?", {"height_m": 80}, "units")
freefall.ask("Something dropped from 2 km on Mars (g = 3.71). Fall time?", {"height_m": 2000, "gravity": 3.71},
             "units")

halflife = d.fn("half_life_remaining", "Amount of a radioactive sample left after some time.",
                initial_amount=N(), half_life=N(), elapsed=N(),
                time_unit=E(["seconds", "minutes", "hours", "days", "years"], "Unit of half_life and elapsed"))
halflife.ask("Carbon-14 has a half-life of 5730 years. How much of 100 g is left after 10,000 years?",
             {"initial_amount": 100, "half_life": 5730, "elapsed": 10000, "time_unit": "years"})
halflife.ask("I-131: half-life 8 days, 50 mg sample, how much remains 24 days later?",
             {"initial_amount": 50, "half_life": 8, "elapsed": 24, "time_unit": "days"}, "terse")

# -- travel: flights, cars, visas, sights --------------------------------------------------------
d = BOOK.domain("travel")
offers = d.fn("flights.search_offers", "Search flight offers.",
              origin=S("IATA airport code"), destination=S("IATA airport code"), depart_date=S("YYYY-MM-DD"),
              return_date=S("YYYY-MM-DD; one way when left out", opt=True),
              cabin=E(["economy", "premium_economy", "business", "first"], opt=True),
              passengers=O("Default one adult", opt=True, adults=I(minimum=1), children=I(opt=True),
                           infants=I(opt=True)),
              nonstop=B(opt=True))
offers.ask("Flights JFK to LHR on 2025-09-05, back on 2025-09-15.",
           {"origin": "JFK", "destination": "LHR", "depart_date": "2025-09-05", "return_date": "2025-09-15"})
offers.ask("Business class from SFO to NRT on 2025-11-02, nonstop only, for two adults.",
           {"origin": "SFO", "destination": "NRT", "depart_date": "2025-11-02", "cabin": "business",
            "nonstop": True, "passengers": {"adults": 2}}, "words")
offers.ask("One way CDG -> FCO 2025-04-11, me and my 5-year-old.",
           {"origin": "CDG", "destination": "FCO", "depart_date": "2025-04-11",
            "passengers": {"adults": 1, "children": 1}}, "terse indirect")

car = d.fn("carRental.quote", "Quote a rental car.",
           pickup_location=S(), pickup_date=S("YYYY-MM-DD"), dropoff_date=S("YYYY-MM-DD"),
           car_class=E(["economy", "compact", "suv", "van", "luxury"]), driver_age=I(opt=True))
car.ask("How much for an SUV at Denver airport from 2025-07-03 to 2025-07-10?",
        {"pickup_location": contains("Denver airport", "denver"), "pickup_date": "2025-07-03",
         "dropoff_date": "2025-07-10", "car_class": "suv"})
car.ask("Quote a compact in Faro, 2025-05-20 to 2025-05-27. The driver is 23.",
        {"pickup_location": "Faro", "pickup_date": "2025-05-20", "dropoff_date": "2025-05-27",
         "car_class": "compact", "driver_age": 23})
car.ask("We're eight people landing in Reykjavik on 2025-08-14 and flying home 2025-08-21. Need a vehicle.",
        {"pickup_location": contains("Reykjavik"), "pickup_date": "2025-08-14", "dropoff_date": "2025-08-21",
         "car_class": "van"}, "indirect")

visa = d.fn("visa_requirements", "Check whether a traveller needs a visa.",
            passport_country=S("ISO 3166-1 alpha-2 code"), destination_country=S("ISO 3166-1 alpha-2 code"),
            purpose=E(["tourism", "business", "study", "transit"], opt=True))
visa.ask("Do I need a visa for Japan with a Brazilian passport?",
         {"passport_country": "BR", "destination_country": "JP"})
visa.ask("Indian citizen flying to Germany for a conference. Visa needed?",
         {"passport_country": "IN", "destination_country": "DE", "purpose": "business"}, "terse")
visa.ask("My cousin from Nigeria got into a master's programme in Canada. What visa rules apply to her?",
         {"passport_country": "NG", "destination_country": "CA", "purpose": "study"}, "indirect")

sights = d.fn("attractions.nearby", "Points of interest near a place.",
              place=S(), category=E(["museum", "park", "restaurant", "landmark", "nightlife"]),
              radius_m=I(opt=True), open_now=B(opt=True))
sights.ask("Museums near the Colosseum that are open right now?",
           {"place": contains("Colosseum"), "category": "museum", "open_now": True})
sights.ask("restaurants within 500 m of Shinjuku Station",
           {"place": "Shinjuku Station", "category": "restaurant", "radius_m": 500}, "terse units")

tzdiff = d.fn("travel.time_zone_difference", "Hour difference between two cities.", city_a=S(), city_b=S())
tzdiff.ask("What's the time difference between Auckland and London?", {"city_a": "Auckland", "city_b": "London"})
tzdiff.ask("If I call my mum in Lima from Berlin, how many hours apart are we?",
           {"city_a": one_of("Berlin", "Lima"), "city_b": one_of("Lima", "Berlin")}, "indirect")

# -- databases ----------------------------------------------------------------------------------
d = BOOK.domain("databases")
mongo = d.fn("mongo.find", "Find documents in a MongoDB collection.",
             collection=S(), filter=Obj("MongoDB query filter"), limit=I(opt=True))
mongo.ask("Find customers whose country is 'NZ' in the customers collection.",
          {"collection": "customers", "filter": {"country": "NZ"}})
mongo.ask("orders collection: status 'pending', 20 max",
          {"collection": "orders", "filter": {"status": "pending"}, "limit": 20}, "terse")

expire = d.fn("redis.expire", "Set a timeout on a key.", key=S(), seconds=I(minimum=1))
expire.ask("Make session:991 expire in 10 minutes.", {"key": "session:991", "seconds": 600}, "units")
expire.ask("expire cart:alice after 2 hours", {"key": "cart:alice", "seconds": 7200}, "terse units")
expire.ask("The rate-limit key rl:203.0.113.9 should go away in forty-five seconds.",
           {"key": "rl:203.0.113.9", "seconds": 45}, "words indirect")

vacuum = d.fn("postgres.vacuum_analyze", "Run VACUUM ANALYZE on a table.", table=S(), full=B(opt=True))
vacuum.ask("vacuum analyze the events table", {"table": "events"}, "terse")
vacuum.ask("Do a full vacuum on page_views, it's badly bloated.", {"table": "page_views", "full": True})

migrate = d.fn("migrations.apply", "Apply pending schema migrations.",
               target=S("Stop at this migration id; the latest when left out", opt=True),
               dry_run=B("Only print the SQL", opt=True))
migrate.ask("Apply all pending migrations.", {})
migrate.ask("Dry-run the migrations up to 0042_add_invoice_status.",
            {"target": "0042_add_invoice_status", "dry_run": True})

export = d.fn("exportTableToCsv", "Export a table to CSV.",
              tableName=S(), columns=A(S(), "All when left out", opt=True),
              whereClause=S("SQL condition", opt=True), delimiter=E([",", ";", "\t"], opt=True))
export.ask("Export the customers table to CSV with semicolons as separators.",
           {"tableName": "customers", "delimiter": ";"})
export.ask("Dump id, email and created_at from users where created_at > '2025-01-01' to a csv.",
           {"tableName": "users", "columns": ["id", "email", "created_at"],
            "whereClause": contains("created_at > '2025-01-01'", "created_at", "2025-01-01")})

pool = d.fn("db.connection_pool_stats", "Connection pool statistics of a database cluster.", cluster=S())
pool.ask("How busy is the connection pool on cluster pg-main?", {"cluster": "pg-main"})
pool.ask("We're getting 'too many clients' errors from analytics-ro. Check its pool.", {"cluster": "analytics-ro"},
         "indirect")
not_with(vacuum, pool)

# -- geometry: solids, trigonometry, vectors -----------------------------------------------------
d = BOOK.domain("geometry")
sphere = d.fn("sphere_volume", "Volume of a sphere.", radius=N(minimum=0),
              unit=E(["mm", "cm", "m", "in"], opt=True))
sphere.ask("Volume of a sphere with radius 3 cm?", {"radius": 3, "unit": "cm"})
sphere.ask("A ball 24 inches across holds how much air?", {"radius": 12, "unit": "in"}, "indirect units")

cyl = d.fn("geometry.cylinder_surface_area", "Total surface area of a closed cylinder.",
           radius=N(minimum=0), height=N(minimum=0))
cyl.ask("Surface area of a cylinder with radius 4 and height 10?", {"radius": 4, "height": 10})
cyl.ask("How much sheet metal for a closed can, radius 3.5, height twelve?", {"radius": 3.5, "height": 12},
        "indirect words")

right_tri = d.fn("trig.solve_right_triangle", "Solve a right triangle from two known values.",
                 known=O("Exactly two of these", opposite=N(opt=True), adjacent=N(opt=True),
                         hypotenuse=N(opt=True), angle_deg=N("An acute angle", opt=True)))
right_tri.ask("Right triangle with hypotenuse 10 and a 30 degree angle: solve it.",
              {"known": {"hypotenuse": 10, "angle_deg": 30}})
right_tri.ask("The two legs of a right triangle are 6 and 8. Solve the triangle.",
              {"known": one_of({"opposite": 6, "adjacent": 8}, {"opposite": 8, "adjacent": 6})})

angle = d.fn("vectorAngle", "Angle between two 3D vectors, in degrees.",
             u=A(N(), minItems=3, maxItems=3), v=A(N(), minItems=3, maxItems=3))
angle.ask("Angle between the vectors (1,0,0) and (0,1,0)?", {"u": [1, 0, 0], "v": [0, 1, 0]})
angle.ask("What's the angle between [2, 3, -1] and [4, 0, 5]?", {"u": [2, 3, -1], "v": [4, 0, 5]})

regular = d.fn("polygon.regular_area", "Area of a regular polygon.", sides=I(minimum=3), side_length=N())
regular.ask("Area of a regular hexagon with side 4?", {"sides": 6, "side_length": 4}, "indirect")
regular.ask("regular octagon, each side 2.5 cm - area?", {"sides": 8, "side_length": 2.5}, "terse indirect")
regular.ask("What's the area of a regular pentagon whose sides measure ten?", {"sides": 5, "side_length": 10},
            "words indirect")

polar = d.fn("polar_to_cartesian", "Convert polar coordinates to Cartesian (x, y).", r=N(), theta_deg=N())
polar.ask("Convert polar (5, 53.13 degrees) to cartesian.", {"r": 5, "theta_deg": 53.13})
polar.ask("r = 2, angle 90 degrees: what are x and y?", {"r": 2, "theta_deg": 90}, "terse")
not_with(sphere, cyl)

# -- sports: football, cricket, chess, F1, cycling, golf ----------------------------------------
d = BOOK.domain("sports")
result = d.fn("football.match_result", "Final score and scorers of a football match.",
              home_team=S(), away_team=S(), date=S("YYYY-MM-DD"))
result.ask("How did Arsenal vs Chelsea end on 2024-04-23?",
           {"home_team": "Arsenal", "away_team": "Chelsea", "date": "2024-04-23"})
result.ask("Who scored when Bayern hosted Dortmund on 2024-03-30?",
           {"home_team": contains("Bayern"), "away_team": contains("Dortmund"), "date": "2024-03-30"}, "indirect")

cricket = d.fn("cricket.player_career_stats", "Career statistics of a cricketer.",
               player=S(), format=E(["test", "odi", "t20i"]))
cricket.ask("Virat Kohli's ODI career stats", {"player": contains("Virat Kohli", "kohli"), "format": "odi"},
            "terse")
cricket.ask("How good was Muttiah Muralitharan in Test cricket?",
            {"player": contains("Muttiah Muralitharan", "muralitharan"), "format": "test"}, "indirect")
cricket.ask("Could you get me Ellyse Perry's T20 international numbers?",
            {"player": contains("Ellyse Perry", "perry"), "format": "t20i"}, "polite")

chess = d.fn("chess.evaluatePosition", "Engine evaluation of a chess position.",
             fen=S("Position in FEN"), depth=I("Search depth (default 18)", opt=True, minimum=1))
chess.ask("Evaluate this position: rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1",
          {"fen": "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1"})
chess.ask("Analyse FEN 8/8/8/4k3/8/8/4P3/4K3 w - - 0 1 at depth 30",
          {"fen": "8/8/8/4k3/8/8/4P3/4K3 w - - 0 1", "depth": 30}, "terse")

f1 = d.fn("f1.race_results", "Results of a Formula 1 Grand Prix.",
          season=I(minimum=1950), round=I(opt=True), grand_prix=S(opt=True))
f1.ask("Who won the 2021 Abu Dhabi Grand Prix?", {"season": 2021, "grand_prix": contains("Abu Dhabi")})
f1.ask("F1 2023 round 5 results", {"season": 2023, "round": 5}, "terse")

ftp = d.fn("cycling.ftp_zones", "Power training zones from functional threshold power.",
           ftp_watts=I(minimum=50))
ftp.ask("My FTP is 245 W, what are my zones?", {"ftp_watts": 245}, "units")
ftp.ask("I just tested at two hundred and eighty watts threshold. Training zones please.", {"ftp_watts": 280},
        "words units polite")

events = d.fn("tickets.sports_events", "Find upcoming sports events to buy tickets for.",
              city=S(), sport=E(["football", "basketball", "baseball", "hockey", "tennis"]),
              date_from=S("YYYY-MM-DD", opt=True), date_to=S("YYYY-MM-DD", opt=True))
events.ask("Any hockey games in Montreal between 2025-01-10 and 2025-01-20?",
           {"city": "Montreal", "sport": "hockey", "date_from": "2025-01-10", "date_to": "2025-01-20"})
events.ask("I'm in Chicago next month and want to catch a baseball game.", {"city": "Chicago", "sport": "baseball"},
           "indirect")

golf = d.fn("golf.handicap", "Golf handicap index from recent score differentials.",
            differentials=A(N(), minItems=3))
golf.ask("Work out my handicap from these differentials: 12.4, 15.1, 10.8, 13.9, 11.2",
         {"differentials": unordered([12.4, 15.1, 10.8, 13.9, 11.2])})

# -- law ----------------------------------------------------------------------------------------
d = BOOK.domain("law")
caselaw = d.fn("caselaw.search", "Search court decisions.",
               query=S(), jurisdiction=E(["us_federal", "us_state", "uk", "eu", "canada"]),
               decided_after=S("YYYY-MM-DD", opt=True),
               court_level=E(["supreme", "appellate", "trial"], opt=True))
caselaw.ask("Find UK cases about adverse possession decided after 2010-01-01.",
            {"query": contains("adverse possession"), "jurisdiction": "uk", "decided_after": "2010-01-01"})
caselaw.ask("US Supreme Court decisions on qualified immunity",
            {"query": contains("qualified immunity"), "jurisdiction": "us_federal", "court_level": "supreme"},
            "terse")
caselaw.ask("Has any Canadian appeals court ruled on non-compete clauses for gig workers?",
            {"query": contains("non-compete", "compete"), "jurisdiction": "canada",
             "court_level": "appellate"}, "indirect")

statute = d.fn("statutes.get_section", "Text of one section of a statute or regulation.",
               code=S("Name or abbreviation of the act"), section=S())
statute.ask("Show me section 230 of the Communications Decency Act.",
            {"code": contains("Communications Decency Act"), "section": "230"})
statute.ask("Pull up Article 6 of the GDPR.", {"code": contains("GDPR"), "section": one_of("6", "Article 6")},
            "terse")

nda = d.fn("contract.generateNDA", "Draft a non-disclosure agreement.",
           party_a=S("Disclosing party"), party_b=S("Receiving party"), mutual=B(), term_months=I(minimum=1),
           governing_law=S(opt=True))
nda.ask("Draft a mutual NDA between Acme Robotics and Lumen Labs for 24 months.",
        {"party_a": "Acme Robotics", "party_b": "Lumen Labs", "mutual": True, "term_months": 24})
nda.ask("One-way NDA: Brightside Ltd is disclosing to Jane Okafor, 12 months, under English law.",
        {"party_a": "Brightside Ltd", "party_b": "Jane Okafor", "mutual": False, "term_months": 12,
         "governing_law": contains("English law", "engl")})
nda.ask("We (Harlow Design) need a two-way confidentiality agreement with Porter & Finch, valid for three years.",
        {"party_a": one_of("Harlow Design", "Porter & Finch"), "party_b": one_of("Porter & Finch", "Harlow Design"),
         "mutual": True, "term_months": 36}, "words indirect")

claims = d.fn("legal.small_claims_limit", "Maximum amount that can be claimed in small-claims court.",
              jurisdiction=S("US state or country"))
claims.ask("What's the small claims limit in California?", {"jurisdiction": "California"})
claims.ask("My landlord kept a 4,000 deposit. Can I take him to small claims in Texas or is that too much?",
           {"jurisdiction": "Texas"}, "indirect")

tm = d.fn("trademark.search", "Search registered trademarks.",
          mark=S(), classes=A(I(minimum=1, maximum=45), "Nice classes", opt=True),
          status=E(["live", "dead", "any"], "Default live", opt=True))
tm.ask("Is 'Moonbeam' trademarked in class 25 or 35?", {"mark": "Moonbeam", "classes": unordered([25, 35])})
tm.ask("Search trademarks, including dead ones, for the word NOVA.", {"mark": "NOVA", "status": "any"})

# -- cooking ------------------------------------------------------------------------------------
d = BOOK.domain("cooking")
nutrition = d.fn("nutrition.lookup", "Nutrition facts for a food.",
                 food=S(), grams=N("Portion size; 100 g when left out", opt=True))
nutrition.ask("How many calories are in 150 g of cooked rice?", {"food": contains("rice"), "grams": 150}, "units")
nutrition.ask("nutrition facts for avocado", {"food": contains("avocado")}, "terse")
nutrition.ask("I had a quarter kilo of greek yogurt. How much protein was that?",
              {"food": contains("yogurt"), "grams": 250}, "indirect words units")

substitute = d.fn("recipe.substitute_ingredient", "Suggest substitutes for an ingredient.",
                  ingredient=S(), dish=S(opt=True),
                  dietary_need=E(["vegan", "dairy_free", "egg_free", "nut_free", "gluten_free"], opt=True))
substitute.ask("What can I use instead of buttermilk in pancakes?",
               {"ingredient": "buttermilk", "dish": contains("pancake")})
substitute.ask("Egg replacement for a vegan chocolate cake?",
               {"ingredient": contains("egg"), "dish": contains("cake"), "dietary_need": "vegan"}, "terse")

mealplan = d.fn("mealPlanner.createWeek", "Plan a week of meals.",
                calories_per_day=I(minimum=1000),
                diet=E(["omnivore", "vegetarian", "vegan", "pescatarian"]),
                meals_per_day=I(opt=True, minimum=1, maximum=6), exclude=A(S(), "Ingredients to avoid", opt=True))
mealplan.ask("Make me a vegetarian meal plan for the week, 2000 calories a day, no mushrooms.",
             {"calories_per_day": 2000, "diet": "vegetarian", "exclude": [one_of("mushrooms", "mushroom")]},
             "units")
mealplan.ask("pescatarian, 1800 kcal, 3 meals a day", {"calories_per_day": 1800, "diet": "pescatarian",
                                                       "meals_per_day": 3}, "terse units")

oven = d.fn("oven.temperature_convert", "Convert oven temperatures between Celsius, Fahrenheit and gas mark.",
            value=N(), from_scale=E(["C", "F", "gas_mark"]), to_scale=E(["C", "F", "gas_mark"]))
oven.ask("What's 180 C in Fahrenheit?", {"value": 180, "from_scale": "C", "to_scale": "F"}, "units")
oven.ask("My British recipe says gas mark 6. What's that in celsius?",
         {"value": 6, "from_scale": "gas_mark", "to_scale": "C"}, "indirect units")
oven.ask("preheat to 425F - in C?", {"value": 425, "from_scale": "F", "to_scale": "C"}, "terse units")

wine = d.fn("wine.pairing", "Wine pairing suggestions for a dish.", dish=S(), budget_usd=N(opt=True))
wine.ask("What wine goes with lamb tagine? Under 25 dollars.", {"dish": contains("lamb tagine", "tagine"),
                                                                 "budget_usd": 25}, "units")
wine.ask("Hosting a sushi night, what should I pour?", {"dish": contains("sushi")}, "indirect")

sourdough = d.fn("sourdough.feeding_schedule", "When and how much to feed a sourdough starter.",
                 hydration_percent=I(minimum=50, maximum=200), room_temp_c=N())
sourdough.ask("My starter is at 100% hydration and the kitchen is about 24 degrees C. When should I feed it?",
              {"hydration_percent": 100, "room_temp_c": 24}, "units")
not_with(substitute, mealplan)

# -- devices: printers, cars, wearables, appliances ---------------------------------------------
d = BOOK.domain("devices")
printer = d.fn("printer.print_document", "Send a document to a printer.",
               printer=S(), file_path=S(), copies=I(opt=True, minimum=1), duplex=B(opt=True),
               color=E(["color", "grayscale"], opt=True))
printer.ask("Print /docs/contract.pdf on the 2nd-floor printer, 3 copies, double-sided.",
            {"printer": contains("2nd-floor", "2nd"), "file_path": "/docs/contract.pdf", "copies": 3,
             "duplex": True})
printer.ask("print ~/boarding-pass.pdf in black and white on HP-Office",
            {"printer": "HP-Office", "file_path": "~/boarding-pass.pdf", "color": "grayscale"}, "terse")

climate = d.fn("car.remote.climate", "Pre-condition the car's cabin before a drive.",
               target_temp_c=N(minimum=15, maximum=30), seat_heating=E(["off", "low", "high"], opt=True),
               defrost=B(opt=True))
climate.ask("Warm up the car to 22 degrees and put the seat heating on high.",
            {"target_temp_c": 22, "seat_heating": "high"}, "units")
climate.ask("It's freezing out. Defrost the windscreen and heat the cabin to 20.",
            {"target_temp_c": 20, "defrost": True}, "indirect units")

watch = d.fn("wearable.setVibrationAlarm", "Set a silent vibration alarm on the watch.",
             time=S("HH:MM, 24-hour"), days=A(E(WEEKDAYS), "Repeat on these days; once when left out", opt=True),
             label=S(opt=True))
watch.ask("Silent alarm on my watch at 05:45 on weekdays.",
          {"time": "05:45", "days": unordered(["mon", "tue", "wed", "thu", "fri"])})
watch.ask("vibrate me at 14:30, label it meds", {"time": "14:30", "label": "meds"}, "terse")
watch.ask("Buzz my wrist at quarter past seven in the evening.", {"time": "19:15"}, "words indirect")

printer3d = d.fn("print3d.start_job", "Start a 3D print.",
                 file=S(), material=E(["pla", "petg", "abs", "tpu"]),
                 layer_height_mm=N(opt=True), infill_percent=I(opt=True, minimum=0, maximum=100))
printer3d.ask("Print bracket.stl in PETG with 20% infill.",
              {"file": "bracket.stl", "material": "petg", "infill_percent": 20})
printer3d.ask("start benchy.gcode, PLA, 0.12 mm layers",
              {"file": "benchy.gcode", "material": "pla", "layer_height_mm": 0.12}, "terse units")
not_with(printer, printer3d)

tv = d.fn("tv.launchApp", "Open an app on the TV.",
          app=E(["netflix", "youtube", "prime_video", "disney_plus", "spotify"]), profile=S(opt=True))
tv.ask("Put YouTube on the TV.", {"app": "youtube"})
tv.ask("Open Netflix on the telly with the Kids profile.", {"app": "netflix", "profile": "Kids"})
tv.ask("The kids want to watch Bluey, it's on Disney+.", {"app": "disney_plus"}, "indirect")

washer = d.fn("washing_machine.start", "Start a wash cycle.",
              program=E(["cotton", "synthetics", "wool", "quick", "eco"]),
              temperature_c=E([20, 30, 40, 60, 90]), spin_rpm=I(opt=True),
              delay_hours=I("Start later", opt=True))
washer.ask("Start a wool wash at 30 degrees.", {"program": "wool", "temperature_c": 30}, "units")
washer.ask("Cotton at 60, and start it in 3 hours.", {"program": "cotton", "temperature_c": 60, "delay_hours": 3},
           "units")
washer.ask("quick wash 40 degrees 800 rpm", {"program": "quick", "temperature_c": 40, "spin_rpm": 800},
           "terse units")

# -- health -------------------------------------------------------------------------------------
d = BOOK.domain("health")
bmi = d.fn("health.bmi", "Body mass index.", weight_kg=N(exclusiveMinimum=0), height_cm=N(exclusiveMinimum=0))
bmi.ask("I'm 180 cm and 82 kg, what's my BMI?", {"weight_kg": 82, "height_cm": 180})
bmi.ask("BMI for 1.65 m and 58 kilos", {"weight_kg": 58, "height_cm": 165}, "terse units")

interactions = d.fn("medication.interaction_check", "Check interactions between medications.",
                    drugs=A(S("Generic name"), minItems=2))
interactions.ask("Can I take ibuprofen together with warfarin?",
                 {"drugs": unordered(["ibuprofen", "warfarin"])}, "indirect")
interactions.ask("Check interactions: metformin, lisinopril, atorvastatin",
                 {"drugs": unordered(["metformin", "lisinopril", "atorvastatin"])}, "terse")

appt = d.fn("appointments.book", "Book a clinic appointment.",
            specialty=E(["general", "dermatology", "cardiology", "pediatrics", "dentistry"]),
            preferred_date=S("YYYY-MM-DD"), time_of_day=E(["morning", "afternoon", "evening"], opt=True),
            patient=O(name=S(), dob=S("Date of birth, YYYY-MM-DD")))
appt.ask("Book a dermatology appointment on 2025-03-18 in the morning for Lena Fischer, born 1990-07-04.",
         {"specialty": "dermatology", "preferred_date": "2025-03-18", "time_of_day": "morning",
          "patient": {"name": "Lena Fischer", "dob": "1990-07-04"}})
appt.ask("My son Theo Marsh (born 2019-11-30) needs to see a pediatrician, 2025-02-06 if possible.",
         {"specialty": "pediatrics", "preferred_date": "2025-02-06",
          "patient": {"name": "Theo Marsh", "dob": "2019-11-30"}}, "indirect")

water = d.fn("hydration.daily_target", "Recommended daily water intake.",
             weight_kg=N(), activity_minutes=I("Exercise per day", opt=True), climate=E(["temperate", "hot"],
                                                                                        opt=True))
water.ask("How much water should I drink? I weigh 70 kg and exercise 45 minutes a day.",
          {"weight_kg": 70, "activity_minutes": 45}, "units")
water.ask("Daily water target for someone of 95 kg living somewhere hot.", {"weight_kg": 95, "climate": "hot"},
          "units")

sleep = d.fn("sleep.analyze_night", "Summarise one night of sleep from the tracker.", date=S("YYYY-MM-DD"))
sleep.ask("How did I sleep on the night of 2025-02-11?", {"date": "2025-02-11"})
sleep.ask("sleep report 2025-06-30", {"date": "2025-06-30"}, "terse")

# -- education ----------------------------------------------------------------------------------
d = BOOK.domain("education")
courses = d.fn("courses.search", "Search the course catalog.",
               subject=S(), level=E(["beginner", "intermediate", "advanced"], opt=True),
               language=S("Teaching language", opt=True), free_only=B(opt=True))
courses.ask("Find free beginner Python courses.", {"subject": contains("Python"), "level": "beginner",
                                                   "free_only": True})
courses.ask("advanced machine learning courses taught in Spanish",
            {"subject": contains("machine learning"), "level": "advanced", "language": one_of("Spanish", "es")},
            "terse")
courses.ask("I know some statistics already and want to go further. What's there at intermediate level?",
            {"subject": contains("statistics"), "level": "intermediate"}, "indirect")

gpa = d.fn("grades.calculate_gpa", "GPA on the 4.0 scale from letter grades and credits.",
           courses=A(O(grade=E(["A", "A-", "B+", "B", "B-", "C+", "C", "D", "F"]), credits=N(exclusiveMinimum=0)),
                     minItems=1))
gpa.ask("Compute my GPA: an A in a 4-credit course, a B+ in a 3-credit one and a C in a 2-credit one.",
        {"courses": unordered([{"grade": "A", "credits": 4}, {"grade": "B+", "credits": 3},
                               {"grade": "C", "credits": 2}])})
gpa.ask("GPA? B (3 credits), A- (3 credits)",
        {"courses": unordered([{"grade": "B", "credits": 3}, {"grade": "A-", "credits": 3}])}, "terse")

quiz = d.fn("quiz.generate", "Generate a practice quiz.",
            topic=S(), num_questions=I(minimum=1, maximum=50), difficulty=E(["easy", "medium", "hard"]),
            question_type=E(["multiple_choice", "true_false", "short_answer"], opt=True))
quiz.ask("Make me a 10-question medium quiz on the French Revolution.",
         {"topic": contains("French Revolution"), "num_questions": 10, "difficulty": "medium"})
quiz.ask("Five hard true/false questions about photosynthesis, please.",
         {"topic": contains("photosynthesis"), "num_questions": 5, "difficulty": "hard",
          "question_type": "true_false"}, "words polite")

flash = d.fn("flashcards.addCard", "Add a flashcard to a deck.", deck=S(), front=S(), back=S())
flash.ask("Add a card to my Spanish deck: 'la manzana' -> 'the apple'.",
          {"deck": "Spanish", "front": "la manzana", "back": "the apple"})
flash.ask("New card in Anatomy: front 'femur', back 'thigh bone'",
          {"deck": "Anatomy", "front": "femur", "back": "thigh bone"}, "terse")

library = d.fn("library.check_availability", "Whether a book is available at the library.",
               isbn=S(opt=True), title=S(opt=True), branch=S(opt=True))
library.ask("Is ISBN 9780140449136 available at the Central branch?", {"isbn": "9780140449136",
                                                                       "branch": contains("Central")})
library.ask("Can I borrow 'The Left Hand of Darkness' anywhere?", {"title": "The Left Hand of Darkness"}, "indirect")

# -- logistics ----------------------------------------------------------------------------------
d = BOOK.domain("logistics")
address = O(street=S(), city=S(), postal_code=S(), country=S("ISO 3166-1 alpha-2"))
label = d.fn("shipments.create_label", "Create a shipping label.",
             carrier=E(["ups", "fedex", "dhl", "usps"]), from_address=address, to_address=address,
             weight_kg=N(exclusiveMinimum=0), service=E(["ground", "express", "overnight"], opt=True))
label.ask("Create a UPS ground label for a 2.5 kg parcel from 10 Market St, San Francisco 94103, US to "
          "200 Elm Ave, Austin 73301, US.",
          {"carrier": "ups", "service": "ground", "weight_kg": 2.5,
           "from_address": {"street": contains("10 Market St"), "city": "San Francisco", "postal_code": "94103",
                            "country": "US"},
           "to_address": {"street": contains("200 Elm Ave"), "city": "Austin", "postal_code": "73301",
                          "country": "US"}}, "units")

stock = d.fn("warehouse.stock_level", "Stock on hand for a SKU in one warehouse.",
             sku=S(), warehouse=E(["AMS1", "FRA2", "LHR3", "NYC1"]))
stock.ask("How many units of SKU 4471-B are in Frankfurt (FRA2)?", {"sku": "4471-B", "warehouse": "FRA2"})
stock.ask("stock of ZX-90 at NYC1", {"sku": "ZX-90", "warehouse": "NYC1"}, "terse")
stock.ask("A customer in London wants 40 of the TR-8 lamps, do we have them in our London warehouse?",
          {"sku": "TR-8", "warehouse": "LHR3"}, "indirect")

freight = d.fn("freight.quote", "Quote ocean freight between two ports.",
               origin_port=S("UN/LOCODE"), destination_port=S("UN/LOCODE"),
               containers=A(O(type=E(["20ft", "40ft", "40ft_hc"]), count=I(minimum=1)), minItems=1),
               hazardous=B(opt=True))
freight.ask("Quote two 40ft containers from CNSHA to NLRTM.",
            {"origin_port": "CNSHA", "destination_port": "NLRTM", "containers": [{"type": "40ft", "count": 2}]},
            "words")
freight.ask("Freight USLAX to JPTYO: one 20ft and three 40ft high-cube, hazardous goods inside.",
            {"origin_port": "USLAX", "destination_port": "JPTYO",
             "containers": unordered([{"type": "20ft", "count": 1}, {"type": "40ft_hc", "count": 3}]),
             "hazardous": True}, "terse words")

route = d.fn("routeOptimizer.plan", "Order delivery stops to minimise driving.",
             depot=S(), stops=A(S(), minItems=2), return_to_depot=B(opt=True))
route.ask("Plan the route from the Leeds depot for stops in Harrogate, York and Wakefield, and come back after.",
          {"depot": contains("Leeds"), "stops": unordered(["Harrogate", "York", "Wakefield"]),
           "return_to_depot": True})
route.ask("depot Lyon; stops Grenoble, Annecy", {"depot": "Lyon", "stops": unordered(["Grenoble", "Annecy"])},
          "terse")

hs = d.fn("customs.hs_code_lookup", "Find the Harmonized System code for a product.",
          description=S(), destination_country=S("ISO 3166-1 alpha-2", opt=True))
hs.ask("HS code for men's cotton t-shirts going to Canada?",
       {"description": contains("men's cotton t-shirts", "cotton", "t-shirt"), "destination_country": "CA"})
hs.ask("what's the tariff code for lithium-ion laptop batteries",
       {"description": contains("lithium-ion laptop batteries", "lithium", "batter")}, "terse")

# -- real estate --------------------------------------------------------------------------------
d = BOOK.domain("realestate")
listings = d.fn("realestate.search_listings", "Search homes for sale or rent.",
                city=S(), listing_type=E(["sale", "rent"]), min_bedrooms=I(opt=True), max_price=N(opt=True),
                property_type=E(["apartment", "house", "townhouse"], opt=True))
listings.ask("Apartments for rent in Austin with at least 2 bedrooms under 2000 a month.",
             {"city": "Austin", "listing_type": "rent", "property_type": "apartment", "min_bedrooms": 2,
              "max_price": 2000})
listings.ask("Houses for sale in Tampa.", {"city": "Tampa", "listing_type": "sale", "property_type": "house"},
             "terse")
listings.ask("We're a family of five hoping to buy in Raleigh, need four bedrooms at least, max 550k.",
             {"city": "Raleigh", "listing_type": "sale", "min_bedrooms": 4, "max_price": 550000},
             "indirect words")

afford = d.fn("mortgage.affordability", "How much house a household can afford.",
              annual_income=N(), monthly_debts=N(), down_payment=N(), rate_percent=N(opt=True))
afford.ask("We make 130k a year, pay 800 a month on debts and have 60k saved for the down payment. "
           "What can we afford?",
           {"annual_income": 130000, "monthly_debts": 800, "down_payment": 60000}, "indirect")
afford.ask("income 72000, debts 350/month, 20000 down, rate 6.5%",
           {"annual_income": 72000, "monthly_debts": 350, "down_payment": 20000, "rate_percent": 6.5}, "terse")

value = d.fn("property.estimate_value", "Estimate a property's market value.",
             address=S(), square_feet=N(opt=True), bedrooms=I(opt=True))
value.ask("What's 12 Birch Lane, Portland worth? It's 1,850 sq ft with 3 bedrooms.",
          {"address": contains("12 Birch Lane"), "square_feet": 1850, "bedrooms": 3}, "units")
value.ask("Estimate the value of 4 Quay Road, Whitby.", {"address": contains("4 Quay Road")})
not_with(listings, value)

# -- energy -------------------------------------------------------------------------------------
d = BOOK.domain("energy")
solar = d.fn("solar.estimate_output", "Estimate the yearly output of a rooftop solar array.",
             lat=N(), lon=N(), capacity_kw=N(exclusiveMinimum=0),
             tilt_deg=N(opt=True), azimuth_deg=N("180 = facing south", opt=True))
solar.ask("How much would a 6.4 kW array produce at 37.77, -122.42?",
          {"lat": 37.77, "lon": -122.42, "capacity_kw": 6.4}, "units")
solar.ask("8 kW at lat 48.1 lon 11.6, tilted 30 degrees, facing south (azimuth 180).",
          {"lat": 48.1, "lon": 11.6, "capacity_kw": 8, "tilt_deg": 30, "azimuth_deg": 180}, "units terse")

appliance = d.fn("energy.appliance_cost", "Running cost of an electrical appliance.",
                 watts=N(), hours_per_day=N(), price_per_kwh=N(), days=I("Default 30", opt=True))
appliance.ask("What does a 2000 W heater cost to run 5 hours a day at 0.32 per kWh?",
              {"watts": 2000, "hours_per_day": 5, "price_per_kwh": 0.32}, "units")
appliance.ask("A 60-watt bulb on 8 hours a day for a whole year, at 0.15/kWh?",
              {"watts": 60, "hours_per_day": 8, "price_per_kwh": 0.15, "days": 365}, "units indirect")
appliance.ask("my gaming PC pulls about 450 watts, I play three hours a night, power is 28 cents a kWh. "
              "Monthly cost?",
              {"watts": 450, "hours_per_day": 3, "price_per_kwh": 0.28, "days": may_omit(30)}, "words units")

carbon = d.fn("grid.carbon_intensity", "Carbon intensity of the electricity grid.",
              region=S(), forecast_hours=I(opt=True))
carbon.ask("How clean is the grid in Great Britain right now?",
           {"region": one_of("Great Britain", "GB", "UK")}, "indirect")
carbon.ask("When will the grid in California be greenest in the next 24 hours? I want to charge the car.",
           {"region": one_of("California", "CA"), "forecast_hours": 24}, "indirect")

# -- agriculture --------------------------------------------------------------------------------
d = BOOK.domain("agriculture")
irrigation = d.fn("farm.irrigation_need", "Irrigation needed for a field.",
                  crop=E(["maize", "wheat", "rice", "soy", "potato"]), area_ha=N(), soil_moisture_percent=N())
irrigation.ask("My 12 hectare maize field is at 18% soil moisture. How much should I irrigate?",
               {"crop": "maize", "area_ha": 12, "soil_moisture_percent": 18}, "units")
irrigation.ask("potatoes, 3.5 ha, moisture 25 percent", {"crop": "potato", "area_ha": 3.5,
                                                         "soil_moisture_percent": 25}, "terse units")

feed = d.fn("livestock.feed_ration", "Daily feed ration for livestock.",
            animal=E(["dairy_cow", "beef_steer", "sheep", "pig", "chicken"]), weight_kg=N(), count=I(opt=True))
feed.ask("Feed ration for 40 sheep averaging 70 kg.", {"animal": "sheep", "weight_kg": 70, "count": 40}, "units")
feed.ask("How much should a 650 kg dairy cow eat per day?", {"animal": "dairy_cow", "weight_kg": 650}, "units")

# -- pets ---------------------------------------------------------------------------------------
d = BOOK.domain("pets")
vet = d.fn("vet.book_visit", "Book a visit at the vet.",
           pet_name=S(), species=E(["dog", "cat", "rabbit", "bird", "other"]), reason=S(), date=S("YYYY-MM-DD"))
vet.ask("Book Biscuit, my dog, in for vaccinations on 2025-04-09.",
        {"pet_name": "Biscuit", "species": "dog", "reason": contains("vaccin"), "date": "2025-04-09"})
vet.ask("Our rabbit Clover hasn't been eating. Can we see the vet on 2025-01-22?",
        {"pet_name": "Clover", "species": "rabbit", "reason": contains("eat"), "date": "2025-01-22"}, "indirect")

portion = d.fn("pet.food_portion", "Daily food portion for a pet.",
               species=E(["dog", "cat"]), weight_kg=N(), age_years=N(), activity=E(["low", "normal", "high"],
                                                                                   opt=True))
portion.ask("How much should my 4 kg, 3 year old cat eat a day?", {"species": "cat", "weight_kg": 4, "age_years": 3},
            "units")
portion.ask("Portion for a very active 28 kg dog aged five.",
            {"species": "dog", "weight_kg": 28, "age_years": 5, "activity": "high"}, "words units")

# -- events -------------------------------------------------------------------------------------
d = BOOK.domain("events")
concerts = d.fn("events.search_concerts", "Search concerts.",
                city=S(), artist=S(opt=True), date_from=S("YYYY-MM-DD", opt=True), date_to=S("YYYY-MM-DD", opt=True))
concerts.ask("Any Coldplay concerts in Madrid?", {"city": "Madrid", "artist": "Coldplay"})
concerts.ask("What gigs are on in Glasgow between 2025-03-01 and 2025-03-08?",
             {"city": "Glasgow", "date_from": "2025-03-01", "date_to": "2025-03-08"})

reserve = d.fn("tickets.reserve", "Reserve seats for an event.",
               event_id=S(), seats=A(S(), minItems=1), hold_minutes=I(opt=True))
reserve.ask("Reserve seats A12 and A13 for event EV-5521.",
            {"event_id": "EV-5521", "seats": unordered(["A12", "A13"])})
reserve.ask("Hold seat K7 at EV-1020 for 15 minutes while I ask my partner.",
            {"event_id": "EV-1020", "seats": ["K7"], "hold_minutes": 15}, "indirect units")
not_with(events, concerts)

# -- HR and payroll -----------------------------------------------------------------------------
d = BOOK.domain("hr")
payroll = d.fn("payroll.run", "Run payroll for a pay period.",
               period_start=S("YYYY-MM-DD"), period_end=S("YYYY-MM-DD"), dry_run=B(opt=True))
payroll.ask("Run payroll for 2025-03-01 to 2025-03-15 as a dry run first.",
            {"period_start": "2025-03-01", "period_end": "2025-03-15", "dry_run": True})
payroll.ask("process payroll 2025-04-01 - 2025-04-30", {"period_start": "2025-04-01", "period_end": "2025-04-30"},
            "terse")

interview = d.fn("recruiting.schedule_interview", "Schedule a candidate interview.",
                 candidate=S(), interviewers=A(S("Email"), minItems=1), start=S("ISO 8601 date-time"),
                 format=E(["onsite", "video", "phone"]), duration_min=I("Default 60", opt=True))
interview.ask("Set up a video interview with Marta Lopez on 2025-02-20T10:00 with kai@corp.com and una@corp.com, "
              "45 minutes.",
              {"candidate": "Marta Lopez", "interviewers": unordered(["kai@corp.com", "una@corp.com"]),
               "start": one_of("2025-02-20T10:00", "2025-02-20T10:00:00"), "format": "video", "duration_min": 45})
interview.ask("Phone screen for Omar Haddad, 2025-03-03T15:30, interviewer lee@corp.com.",
              {"candidate": "Omar Haddad", "interviewers": ["lee@corp.com"],
               "start": one_of("2025-03-03T15:30", "2025-03-03T15:30:00"), "format": "phone"}, "terse")

benefits = d.fn("benefits.enrollment_status", "An employee's benefits enrollment.",
                employee_id=S(), plan_year=I(opt=True))
benefits.ask("Is employee 55021 enrolled in benefits for 2025?", {"employee_id": "55021", "plan_year": 2025})
benefits.ask("check benefits enrollment for emp 48810", {"employee_id": "48810"}, "terse")

# -- messaging: email, support, notifications ---------------------------------------------------
d = BOOK.domain("messaging")
draft = d.fn("email.draft", "Draft an email (it is saved, not sent).",
             to=A(S(), minItems=1), subject=S(), body=S(), cc=A(S(), opt=True))
draft.ask("Draft an email to tom@acme.com with the subject 'Q3 numbers' saying the report is ready.",
          {"to": ["tom@acme.com"], "subject": "Q3 numbers", "body": contains("report is ready", "report", "ready")})
draft.ask("Write up an email to ana@acme.com, cc boss@acme.com, subject Offsite, body: The offsite moves to Friday.",
          {"to": ["ana@acme.com"], "cc": ["boss@acme.com"], "subject": "Offsite",
           "body": contains("The offsite moves to Friday.", "offsite moves to friday")})

ticket = d.fn("support.create_ticket", "Open a support ticket.",
              title=S(), description=S(), priority=E(["p1", "p2", "p3", "p4"]), component=S(opt=True))
ticket.ask("Open a P2 ticket: the login page shows a 500 error since this morning.",
           {"title": contains("login"), "description": contains("500"), "priority": "p2"})
ticket.ask("Everything is down for all customers!! Payments component. File it as top priority.",
           {"title": contains("down"), "description": contains("down"), "priority": "p1",
            "component": contains("payment")}, "indirect")

push = d.fn("notifications.push", "Send a push notification to a user's phone.",
            user_id=S(), title=S(), message=S(), urgent=B(opt=True))
push.ask("Send user u-3391 a push titled 'Delivery' saying their parcel is at the door.",
         {"user_id": "u-3391", "title": "Delivery",
          "message": contains("Your parcel is at the door.", "parcel", "door")})
push.ask("urgent push to u-1007: title 'Security', message 'New login from Lisbon'",
         {"user_id": "u-1007", "title": "Security", "message": contains("New login from Lisbon"), "urgent": True},
         "terse")
not_with(draft, push)

# -- e-commerce: inventory, pricing, reviews ----------------------------------------------------
d = BOOK.domain("ecommerce")
adjust = d.fn("inventory.adjust", "Adjust stock after a count.",
              sku=S(), delta=I("Positive adds units, negative removes them"),
              reason=E(["recount", "damage", "theft", "return"]))
adjust.ask("We found 3 damaged units of SKU LM-300, take them out of stock.",
           {"sku": "LM-300", "delta": -3, "reason": "damage"})
adjust.ask("Recount shows 12 more BX-01 than the system says.", {"sku": "BX-01", "delta": 12, "reason": "recount"})
adjust.ask("A customer brought back two of the QP-5 kettles, put them back on the shelf.",
           {"sku": "QP-5", "delta": 2, "reason": "return"}, "words indirect")

sale = d.fn("pricing.set_discount", "Put a product on sale.",
            sku=S(), percent_off=N(exclusiveMinimum=0, maximum=90), starts=S("YYYY-MM-DD", opt=True),
            ends=S("YYYY-MM-DD", opt=True))
sale.ask("Put SKU HD-77 on sale at 15% off until 2025-12-31.", {"sku": "HD-77", "percent_off": 15,
                                                                "ends": "2025-12-31"})
sale.ask("20 percent off RR-12 from 2025-11-28 to 2025-12-01",
         {"sku": "RR-12", "percent_off": 20, "starts": "2025-11-28", "ends": "2025-12-01"}, "terse")

reviews = d.fn("reviews.summarize", "Summarise customer reviews of a product.",
               product_id=S(), min_stars=I(opt=True, minimum=1, maximum=5),
               max_stars=I(opt=True, minimum=1, maximum=5))
reviews.ask("What do people complain about in the reviews for product P-4410? Just the 1 and 2 star ones.",
            {"product_id": "P-4410", "min_stars": 1, "max_stars": 2}, "indirect")
reviews.ask("Summarise reviews of P-0093.", {"product_id": "P-0093"}, "terse")

# -- more of every domain, with plain function names --------------------------------------------
d = BOOK.domain("finance")
holidays = d.fn("get_exchange_holidays", "Days a stock exchange is closed in a given year.",
                exchange=E(["NYSE", "NASDAQ", "LSE", "TSE", "XETRA"]), year=I(minimum=2000))
holidays.ask("When is the NYSE closed in 2025?", {"exchange": "NYSE", "year": 2025})
holidays.ask("LSE holidays 2026", {"exchange": "LSE", "year": 2026}, "terse")
holidays.ask("Is the Tokyo exchange open over New Year 2025? List its holidays for that year.",
             {"exchange": "TSE", "year": 2025}, "indirect")

split = d.fn("splitBill", "Split a bill evenly, optionally adding a tip.",
             total=N(minimum=0), people=I(minimum=1), tip_percent=N(opt=True))
split.ask("Split 186.40 between 4 people with an 18% tip.", {"total": 186.4, "people": 4, "tip_percent": 18})
split.ask("dinner was 92, three of us, no tip", {"total": 92, "people": 3, "tip_percent": may_omit(0)},
          "terse words")
split.ask("We owe 240 for the cabin, split five ways.", {"total": 240, "people": 5}, "words")

vat = d.fn("calculate_vat", "Add VAT to a net amount, or remove it from a gross amount.",
           amount=N(), rate_percent=N(), direction=E(["add", "remove"]))
vat.ask("Add 20% VAT to 450.", {"amount": 450, "rate_percent": 20, "direction": "add"}, "terse")
vat.ask("This price of 119 includes 19% VAT. What's the net?", {"amount": 119, "rate_percent": 19,
                                                               "direction": "remove"}, "indirect")

expense = d.fn("recordExpense", "Log a business expense.",
               amount=N(), currency=S("ISO 4217 code"),
               category=E(["travel", "meals", "lodging", "supplies", "software"]), date=S("YYYY-MM-DD"),
               merchant=S(opt=True))
expense.ask("Log a 64.20 EUR lunch with a client on 2025-05-06.",
            {"amount": 64.2, "currency": "EUR", "category": "meals", "date": "2025-05-06"})
expense.ask("Expense the 1,290 USD hotel at the Hilton, dated 2025-09-14.",
            {"amount": 1290, "currency": "USD", "category": "lodging", "date": "2025-09-14",
             "merchant": contains("Hilton")})
expense.ask("software subscription, 49 dollars, 2025-01-31, Figma",
            {"amount": 49, "currency": "USD", "category": "software", "date": "2025-01-31", "merchant": "Figma"},
            "terse")

d = BOOK.domain("weather")
sun = d.fn("get_sunrise_sunset", "Sunrise and sunset times for a place and day.",
           lat=N(), lon=N(), date=S("YYYY-MM-DD"))
sun.ask("Sunrise in Reykjavik (64.15, -21.94) on 2025-06-21?", {"lat": 64.15, "lon": -21.94, "date": "2025-06-21"})
sun.ask("When does the sun set on 2025-12-21 at 40.42, -3.70?", {"lat": 40.42, "lon": -3.7, "date": "2025-12-21"})

chill = d.fn("wind_chill", "Wind chill (feels-like) temperature.", temperature_c=N(), wind_kmh=N(minimum=0))
chill.ask("It's -5 C with a 30 km/h wind. What does it feel like?", {"temperature_c": -5, "wind_kmh": 30}, "units")
chill.ask("feels-like temperature at 2 degrees and wind of 45 km/h", {"temperature_c": 2, "wind_kmh": 45},
          "terse units")

marine = d.fn("marine_forecast", "Sea conditions forecast for a sea area.",
              area=S(), days=I(opt=True, minimum=1, maximum=3),
              fields=A(E(["wave_height", "wind", "swell_period", "visibility"]), opt=True))
marine.ask("Wave height and wind for the Dover Strait for the next 2 days.",
           {"area": contains("Dover"), "days": 2, "fields": unordered(["wave_height", "wind"])})
marine.ask("Sailing out of Falmouth tomorrow. What's the sea doing?", {"area": contains("Falmouth")}, "indirect")

d = BOOK.domain("health")
burned = d.fn("calcCaloriesBurned", "Calories burned by an activity.",
              activity=S(), minutes=N(exclusiveMinimum=0), weight_kg=N(exclusiveMinimum=0))
burned.ask("How many calories does a 75 kg person burn cycling for 40 minutes?",
           {"activity": contains("cycl"), "minutes": 40, "weight_kg": 75}, "units")
burned.ask("Calories burnt: an hour of swimming, and I weigh 62 kg.",
           {"activity": contains("swim"), "minutes": 60, "weight_kg": 62}, "units words")

pharmacy = d.fn("find_pharmacy", "Find pharmacies near a location.",
                location=S(), open_now=B(opt=True),
                services=A(E(["vaccinations", "compounding", "drive_through", "24h"]), opt=True))
pharmacy.ask("Is there a 24-hour pharmacy near Union Square?", {"location": "Union Square", "services": ["24h"]})
pharmacy.ask("pharmacies near 10115 Berlin that are open now", {"location": contains("10115"), "open_now": True},
             "terse")
pharmacy.ask("I need a flu shot somewhere around Green Park, who does vaccinations?",
             {"location": "Green Park", "services": ["vaccinations"]}, "indirect")

d = BOOK.domain("education")
study = d.fn("create_study_plan", "Build a study timetable up to an exam.",
             subjects=A(O(name=S(), hours=N("Total hours needed")), minItems=1), exam_date=S("YYYY-MM-DD"),
             hours_per_day=N("Daily maximum", opt=True))
study.ask("Make a study plan for my exams on 2025-06-10: 12 hours of calculus, 8 of physics and 5 of chemistry.",
          {"subjects": unordered([{"name": "calculus", "hours": 12},
                                  {"name": "physics", "hours": 8}, {"name": "chemistry", "hours": 5}]),
           "exam_date": "2025-06-10"})
study.ask("study plan, exam 2025-01-15, biology 10 h, history 6 h, max 3 hours a day",
          {"subjects": unordered([{"name": "biology", "hours": 10}, {"name": "history", "hours": 6}]),
           "exam_date": "2025-01-15", "hours_per_day": 3}, "terse units")

translate = d.fn("translate_document", "Translate a stored document.",
                 document_id=S(), target_language=S("ISO 639-1 code"),
                 formality=E(["default", "formal", "informal"], opt=True))
translate.ask("Translate doc D-881 into German, formal.", {"document_id": "D-881", "target_language": "de",
                                                          "formality": "formal"})
translate.ask("Turn D-102 into Portuguese.", {"document_id": "D-102", "target_language": "pt"}, "terse")

d = BOOK.domain("logistics")
eta = d.fn("estimate_delivery_date", "Estimate when a parcel will arrive.",
           origin_postal=S(), destination_postal=S(), service=E(["standard", "express"]), ship_date=S("YYYY-MM-DD"))
eta.ask("If I ship from 75001 to 13001 by express on 2025-03-04, when does it arrive?",
        {"origin_postal": "75001", "destination_postal": "13001", "service": "express", "ship_date": "2025-03-04"})
eta.ask("standard shipping 10001 -> 94105 sent 2025-11-24, ETA?",
        {"origin_postal": "10001", "destination_postal": "94105", "service": "standard", "ship_date": "2025-11-24"},
        "terse")

boxes = d.fn("packBoxes", "Choose shipping boxes for a set of items.",
             items=A(O(length_cm=N(), width_cm=N(), height_cm=N(), quantity=I(minimum=1)), minItems=1),
             max_weight_kg=N("Per box", opt=True))
boxes.ask("Which boxes do I need for 2 items of 30x20x10 cm and 1 of 50x40x30 cm?",
          {"items": unordered([{"length_cm": 30, "width_cm": 20, "height_cm": 10, "quantity": 2},
                               {"length_cm": 50, "width_cm": 40, "height_cm": 30, "quantity": 1}])}, "units")
boxes.ask("Pack four 25 x 25 x 25 cm cubes, no box heavier than 20 kg.",
          {"items": [{"length_cm": 25, "width_cm": 25, "height_cm": 25, "quantity": 4}], "max_weight_kg": 20},
          "words units")

d = BOOK.domain("realestate")
rent = d.fn("rent_split_by_room", "Split rent between flatmates by room size.",
            total_rent=N(), rooms=A(O(tenant=S(), area_m2=N()), minItems=2))
rent.ask("Rent is 2400. Ana's room is 14 m2, Ben's 11 m2 and Cleo's 9 m2. Split it fairly.",
         {"total_rent": 2400, "rooms": unordered([{"tenant": "Ana", "area_m2": 14}, {"tenant": "Ben", "area_m2": 11},
                                                  {"tenant": "Cleo", "area_m2": 9}])}, "units")

zoning = d.fn("getZoningInfo", "Zoning rules for a parcel of land.", parcel_id=S(), municipality=S())
zoning.ask("What's the zoning for parcel 041-220-17 in Santa Rosa?",
           {"parcel_id": "041-220-17", "municipality": "Santa Rosa"})
zoning.ask("Can I build an ADU on lot 7781-003 in Boulder? Check the zoning.",
           {"parcel_id": "7781-003", "municipality": "Boulder"}, "indirect")

d = BOOK.domain("devices")
charge = d.fn("set_charging_limit", "Set the car's battery charge limit.",
              percent=I(minimum=50, maximum=100),
              schedule=O("Only charge in this window", opt=True, start=S("HH:MM"), end=S("HH:MM")))
charge.ask("Set my car's charge limit to 80%.", {"percent": 80})
charge.ask("Charge to 90 percent, but only between 01:00 and 06:00.",
           {"percent": 90, "schedule": {"start": "01:00", "end": "06:00"}})

doorbell = d.fn("configureDoorbell", "Change the doorbell camera's settings.",
                motion_sensitivity=E(["low", "medium", "high"], opt=True),
                quiet_hours=O(opt=True, start=S("HH:MM"), end=S("HH:MM")), record_clips=B(opt=True))
doorbell.ask("Set the doorbell motion sensitivity to low and keep it quiet from 22:00 to 07:00.",
             {"motion_sensitivity": "low", "quiet_hours": {"start": "22:00", "end": "07:00"}})
doorbell.ask("Stop the doorbell from recording clips.", {"record_clips": False}, "terse")

d = BOOK.domain("databases")
cost = d.fn("estimate_query_cost", "Estimate what a warehouse query will cost before running it.",
            sql=S(), warehouse_size=E(["xs", "s", "m", "l", "xl"]))
cost.ask("How much would SELECT * FROM clicks cost on a medium warehouse?",
         {"sql": one_of("SELECT * FROM clicks", "SELECT * FROM clicks;"), "warehouse_size": "m"})
cost.ask("estimate: SELECT user_id, COUNT(*) FROM events GROUP BY user_id on xl",
         {"sql": one_of("SELECT user_id, COUNT(*) FROM events GROUP BY user_id",
                        "SELECT user_id, COUNT(*) FROM events GROUP BY user_id;"), "warehouse_size": "xl"}, "terse")

rotate = d.fn("rotate_credentials", "Rotate a database user's password.",
              username=S(), notify=A(S("Email"), opt=True))
rotate.ask("Rotate the password for report_reader and tell dba@corp.com.",
           {"username": "report_reader", "notify": ["dba@corp.com"]})
rotate.ask("the etl_writer password leaked in a log, rotate it now", {"username": "etl_writer"}, "indirect terse")

d = BOOK.domain("law")
calendar = d.fn("get_court_calendar", "Hearings on a court's calendar for one day.",
                court=S(), date=S("YYYY-MM-DD"), case_number=S(opt=True))
calendar.ask("What's on the calendar of the Cook County Circuit Court on 2025-02-14?",
             {"court": contains("Cook County"), "date": "2025-02-14"})
calendar.ask("Is case 24-CV-1182 being heard at the Southern District of New York on 2025-05-07?",
             {"court": contains("Southern District of New York", "southern district"), "date": "2025-05-07",
              "case_number": "24-CV-1182"})

fees = d.fn("estimate_legal_fees", "Estimate legal fees for a matter.",
            matter_type=E(["divorce", "will", "conveyancing", "employment", "immigration"]),
            complexity=E(["simple", "standard", "complex"]), region=S(opt=True))
fees.ask("How much would a simple will cost?", {"matter_type": "will", "complexity": "simple"})
fees.ask("Rough fees for a complex divorce in Ontario?", {"matter_type": "divorce", "complexity": "complex",
                                                         "region": "Ontario"}, "terse")
fees.ask("I was unfairly dismissed, it's a fairly ordinary case I think. What would a lawyer charge?",
         {"matter_type": "employment", "complexity": "standard"}, "indirect")

d = BOOK.domain("cooking")
metric = d.fn("convert_recipe_to_metric", "Convert every quantity of a saved recipe to metric units.",
              recipe_id=S(), round_to_grams=I("Round weights to a multiple of this", opt=True))
metric.ask("Convert recipe R-55 to metric.", {"recipe_id": "R-55"}, "terse")
metric.ask("Metric version of recipe R-3, rounded to 5 grams please.", {"recipe_id": "R-3", "round_to_grams": 5},
           "units polite")

d = BOOK.domain("sports")
bracket = d.fn("plan_tournament", "Create a tournament bracket.",
               name=S(), teams=A(S(), minItems=2),
               format=E(["single_elimination", "double_elimination", "round_robin"]))
bracket.ask("Make a round robin called Office Cup with the Reds, Blues, Greens and Yellows.",
            {"name": "Office Cup", "teams": unordered(["Reds", "Blues", "Greens", "Yellows"]),
             "format": "round_robin"})
bracket.ask("knockout bracket 'Summer Slam': Tigers, Owls, Foxes, Bears",
            {"name": "Summer Slam", "teams": unordered(["Tigers", "Owls", "Foxes", "Bears"]),
             "format": "single_elimination"}, "terse")

swim = d.fn("swimPaceConverter", "Convert a swimming pace between per-100 m and per-100 yd.",
            pace=S("M:SS"), from_unit=E(["per_100m", "per_100yd"]))
swim.ask("Convert 1:45 per 100 m to per 100 yards.", {"pace": "1:45", "from_unit": "per_100m"}, "units")
swim.ask("I swim 100 yards in 1:30. What's that per 100 metres?", {"pace": "1:30", "from_unit": "per_100yd"},
         "units indirect")

sphere.ask("sphere of radius 0.5 m, volume", {"radius": 0.5, "unit": "m"}, "terse units")
f1.ask("Results of the 2019 Monaco Grand Prix, please.", {"season": 2019, "grand_prix": contains("Monaco")}, "polite")
concerts.ask("Is Taylor Swift playing anywhere in Lisbon?", {"city": "Lisbon", "artist": "Taylor Swift"}, "indirect")
vet.ask("Book our cat Miso for a dental check on 2025-08-19.",
        {"pet_name": "Miso", "species": "cat", "reason": contains("dental"), "date": "2025-08-19"})
golf.ask("Handicap from 9.5, 11, 8.7 and 10.2?", {"differentials": unordered([9.5, 11, 8.7, 10.2])}, "terse")
mongo.ask("In the products collection, find items whose category is 'kitchen' and in_stock is true.",
          {"collection": "products", "filter": {"category": "kitchen", "in_stock": True}})
sleep.ask("Was last night (2025-03-02) any better than usual? Show me the sleep summary.", {"date": "2025-03-02"},
          "indirect")

# -- requests that need the conversation --------------------------------------------------------
fx.ask("And the other way round?", {"base": "JPY", "quote": "EUR"}, "terse",
       history=[{"role": "user", "content": "I'm comparing prices between Tokyo and Paris. What's the euro to "
                                            "yen rate?"},
                {"role": "assistant", "content": "One euro buys about 162 yen at the moment."}])
bmi.ask("I'm 172 cm and weigh 90 kg. Work it out please.", {"weight_kg": 90, "height_cm": 172}, "polite",
        system="You are a friendly health-coach assistant. You never give a diagnosis.")
stock.ask("check it in Amsterdam too", {"sku": "4471-B", "warehouse": "AMS1"}, "terse",
          history=[{"role": "user", "content": "Our best seller is SKU 4471-B, the blue desk lamp."},
                   {"role": "assistant", "content": "Noted: 4471-B, the blue desk lamp."}])
statute.ask("What does section 2 of the Sherman Act say?", {"code": contains("Sherman Act"), "section": "2"},
            system="You are a research assistant at a law firm. Cite sources precisely.")
quiz.ask("Great, now make it 15 questions and hard.",
         {"topic": contains("volcano"), "num_questions": 15, "difficulty": "hard"},
         history=[{"role": "user", "content": "My daughter is learning about volcanoes at school."},
                  {"role": "assistant", "content": "Volcanoes are a great topic! I could set her a quiz."}])
tv.ask("Put Spotify on, please.", {"app": "spotify"}, "polite",
       system="You control the living room devices. Keep replies short.")

# -- no call: small talk and questions none of the tools answers --------------------------------
nc = BOOK.no_call
nc("Hello!", tags="small_talk terse")
nc("How's your day been?", tags="small_talk")
nc("cheers mate, that sorted it", tags="small_talk")
nc("I just wanted to say you're doing a great job.", tags="small_talk")
nc("ok thx bye", tags="small_talk terse")
nc("Are you a real person?", tags="small_talk")
nc("Tell me something interesting.", tags="small_talk")
nc("I had a rough week honestly.", tags="small_talk")
nc("Let's start over.", tags="small_talk")
nc("Can you keep your answers shorter?", tags="small_talk")
nc("What languages do you speak?", tags="small_talk")
nc("Never mind, I figured it out.", tags="small_talk")
nc("Write a limerick about a sleepy cat.", tags="small_talk")
nc("Happy new year!", tags="small_talk")
nc("What is inflation, in plain words?", [fx, convert, crypto], "near_miss")
nc("Is it smarter to rent or buy a home in general?", [listings, afford], "near_miss")
nc("Why do stock prices go down when interest rates go up?", [rebalance, compound], "near_miss")
nc("Explain how a Roth IRA differs from a traditional IRA.", [tax, amort], "near_miss")
nc("Why is Pluto not a planet any more?", [planet, iss], "near_miss")
nc("What's the difference between DNA and RNA?", [dna, punnett], "near_miss")
nc("Why does ice float?", [freefall, halflife], "near_miss")
nc("Who discovered penicillin?", [balance_eq, ohm], "near_miss")
nc("What's the best time of year to visit Japan?", [offers, visa], "near_miss")
nc("Do I need travel insurance, generally speaking?", [car, offers, sights], "near_miss")
nc("What's the difference between an index and a primary key?", [vacuum, export, mongo], "near_miss")
nc("Explain what a database transaction is.", [migrate, pool], "near_miss")
nc("What does 'pi' stand for in geometry?", [sphere, cyl, regular], "near_miss")
nc("Why does a triangle's angles add up to 180 degrees?", [right_tri, angle], "near_miss")
nc("What is the offside rule in football?", [result, events], "near_miss")
nc("How many players are on a cricket team?", [cricket, golf], "near_miss")
nc("Who is the greatest chess player of all time, in your opinion?", [chess, f1], "near_miss")
nc("What's the difference between a solicitor and a barrister?", [caselaw, claims], "near_miss")
nc("Is a verbal agreement legally binding?", [nda, statute, tm], "near_miss")
nc("Why does bread go stale?", [sourdough, nutrition], "near_miss")
nc("What's the difference between baking and roasting?", [oven, wine, substitute], "near_miss")
nc("How does an inkjet printer actually work?", [printer, printer3d], "near_miss")
nc("Should I wash jeans inside out?", [washer, tv], "near_miss")
nc("How many hours of sleep do adults need?", [sleep, water], "near_miss")
nc("Is it normal to feel dizzy after giving blood?", [appt, bmi, interactions], "near_miss")
nc("Any tips for studying for exams?", [courses, flash, quiz], "near_miss")
nc("What was the Silk Road?", [freight, route, hs], "near_miss")
nc("What's a good first pet for a child?", [vet, portion], "near_miss")
nc("Why are heat pumps more efficient than electric heaters?", [appliance, solar, carbon], "near_miss")
nc("What crops grow well in sandy soil?", [irrigation, feed], "near_miss")
nc("How do I ask my boss for a raise?", [payroll, benefits, interview], "near_miss")
nc("What makes a good customer support reply?", [ticket, push], "near_miss")
nc("How should I price a handmade product?", [sale, adjust, reviews], "near_miss")
nc("Who painted the Mona Lisa?", [watch, climate], "off_topic")
nc("What's the tallest mountain in Africa?", [label, stock], "off_topic")
nc("Give me three synonyms for 'happy'.", [mongo, expire, tm], "off_topic")
nc("How do you say 'thank you' in Korean?", [concerts, reserve], "off_topic")
nc("What's 12 times 12?", [draft, sights], "off_topic")
nc("Write a two-line poem about the ocean.", [carbon, caselaw, quiz], "off_topic")
nc("Good afternoon, I have a quick question before I book anything.", tags="small_talk",
   system="You are the assistant of a travel agency. Help customers plan trips.")
nc("Perfect, thanks a lot!", tags="small_talk",
   history=[{"role": "user", "content": "How long should I boil an egg for a runny yolk?"},
            {"role": "assistant", "content": "About six minutes from boiling water, then into cold water."}])
nc("That's all I needed, have a nice evening.", tags="small_talk",
   history=[{"role": "user", "content": "What's the boiling point of water at sea level?"},
            {"role": "assistant", "content": "100 degrees Celsius, or 212 Fahrenheit."}])
